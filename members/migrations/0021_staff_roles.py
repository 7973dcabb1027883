from django.contrib.auth.management import create_permissions
from django.db import migrations


def setup_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now so the groups
    # can be given them in this migration.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from members.staff.roles import roles_setup

    roles_setup(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0020_staff_models"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(setup_roles, migrations.RunPython.noop)]
