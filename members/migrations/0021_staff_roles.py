from django.db import migrations


# The staff roles moved to the backoffice app, whose migration 0002_staff_roles sets them up once every app's
# permissions exist. This step stays, empty, so databases that ran it keep a consistent history.


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0020_staff_models"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
