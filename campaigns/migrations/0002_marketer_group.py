"""The "Marketer" staff group gets the campaigns permissions once they exist.

The staff roles (``members.staff.roles``) are the one definition of every group's permissions; its own data
migration runs before this app's tables exist, so ``campaigns.*`` matched nothing then. Re-applying the roles
here gives Marketers campaigns and segments (and read-only members and tiers, no point adjustments).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def apply_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from members.staff.roles import roles_setup

    roles_setup(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("members", "0021_staff_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
