"""The "Marketer" group: campaigns and segments, read-only members and tiers, no point adjustments."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketer"
#: Records written only by the services (audit trail, participation, send log): marketers may only read them.
READ_ONLY_MODELS = ["campaignchange", "campaignparticipation", "campaignemail"]
OTHER_PERMISSIONS = [("members", "view_member"), ("members", "view_tier")]


def create_group(apps, schema_editor):
    # Permissions are normally created after migrate; make sure the ones the group needs exist now.
    for app_label in ("campaigns", "members"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    permissions = [
        permission
        for permission in Permission.objects.filter(content_type__app_label="campaigns").select_related("content_type")
        if permission.content_type.model not in READ_ONLY_MODELS or permission.codename.startswith("view_")
    ]
    for app_label, codename in OTHER_PERMISSIONS:
        permissions += list(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    group.permissions.add(*permissions)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
