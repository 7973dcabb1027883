"""The "Marketer" staff group gets the campaigns permissions once they exist.

The staff roles (``backoffice.roles``) are the one definition of every group's permissions; its own data
migration runs before this app's tables exist, so ``campaigns.*`` matched nothing then. Re-applying the roles
here gives Marketers campaigns and segments (and read-only members and tiers, no point adjustments).
"""

from django.db import migrations


# The staff roles moved to the backoffice app, whose migration 0002_staff_roles sets them up once every app's
# permissions exist. This step stays, empty, so databases that ran it keep a consistent history.


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("members", "0021_staff_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
