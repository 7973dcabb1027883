from urllib.parse import urlparse

from django.conf import settings
from django.db import migrations


def site_from_settings(apps, schema_editor):
    # allauth names the site in its emails ("[example.com] Please confirm…"); use the program's own address.
    Site = apps.get_model("sites", "Site")
    domain = urlparse(settings.SITE_URL).netloc or "127.0.0.1:8000"
    Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"domain": domain, "name": "Loyalty Rewards"})


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0022_staff_analytics_indexes"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [migrations.RunPython(site_from_settings, migrations.RunPython.noop)]
