import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: the platform's own errors (a production without a broker) stop the boot here.
from integrations.checks import serious_problems  # noqa: E402  (needs the apps loaded above)

if problems := serious_problems():
    raise ImproperlyConfigured("; ".join(f"{problem.id}: {problem.msg}" for problem in problems))
