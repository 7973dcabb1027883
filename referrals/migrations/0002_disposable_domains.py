"""Seed a starting list of well-known disposable (throwaway) email domains; staff edit it in the admin."""

from django.db import migrations

DOMAINS = [
    "10minutemail.com",
    "20minutemail.com",
    "burnermail.io",
    "discard.email",
    "dispostable.com",
    "emailondeck.com",
    "fakeinbox.com",
    "getairmail.com",
    "getnada.com",
    "guerrillamail.biz",
    "guerrillamail.com",
    "guerrillamail.de",
    "guerrillamail.net",
    "guerrillamail.org",
    "guerrillamailblock.com",
    "inboxkitten.com",
    "mailcatch.com",
    "maildrop.cc",
    "mailinator.com",
    "mailnesia.com",
    "mintemail.com",
    "moakt.com",
    "mohmal.com",
    "mytemp.email",
    "sharklasers.com",
    "spamgourmet.com",
    "temp-mail.org",
    "tempmail.com",
    "tempmail.net",
    "tempr.email",
    "throwawaymail.com",
    "trashmail.com",
    "trashmail.de",
    "yopmail.com",
    "yopmail.fr",
    "yopmail.net",
]


def seed(apps, schema_editor):
    domain_model = apps.get_model("referrals", "DisposableEmailDomain")
    existing = set(domain_model.objects.values_list("domain", flat=True))
    domain_model.objects.bulk_create(
        [domain_model(domain=domain, note="Default list") for domain in DOMAINS if domain not in existing]
    )


def unseed(apps, schema_editor):
    apps.get_model("referrals", "DisposableEmailDomain").objects.filter(domain__in=DOMAINS, note="Default list").delete()


class Migration(migrations.Migration):
    dependencies = [("referrals", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
