import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")

app = Celery("loyalty_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="loyalty_site.ping")
def ping() -> str:
    """Round-trip check used by the health tests and operators (`celery call loyalty_site.ping`)."""
    return "pong"
