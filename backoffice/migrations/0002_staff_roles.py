"""The staff groups get their permissions once every app's models exist (see ``backoffice.roles``).

Idempotent: on a database that already had the groups (set up by members 0021 and campaigns 0002 before the staff
console became its own app) it only adds what the roles now name, such as the console's moved models.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def roles_apply(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    from backoffice.roles import roles_setup

    roles_setup(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("integrations", "0001_initial"),
        ("rewards", "0002_redemption_is_gift"),
        ("campaigns", "0003_campaign_reward"),
        ("referrals", "0003_program_rewards"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_apply, migrations.RunPython.noop)]
