"""Settings for the loyalty platform: one module, every deployment choice read from the environment.

Development defaults (DEBUG on, SQLite file, eager Celery, console email) need no environment at all.
Production sets DJANGO_ENV=production (or DEBUG=false) plus SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and
CELERY_BROKER_URL; see README.md.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

PRODUCTION = env.str("DJANGO_ENV", default="development") == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "integrations",
    "members",
    "rewards",
    "campaigns",
    "referrals",
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "loyalty_site.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

#: Our own resources only (see loyalty_site/security.py); data: for the QR codes and inline SVG images.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
)

ROOT_URLCONF = "loyalty_site.urls"
CSRF_FAILURE_VIEW = "integrations.api.errors.csrf_failure"
WSGI_APPLICATION = "loyalty_site.wsgi.application"
ASGI_APPLICATION = "loyalty_site.asgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "members.context_processors.program",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
#: A reused connection that ended a request cleanly this many seconds ago or less skips the health check
#: (integrations.connections); 0 checks before every request, as Django does.
CONN_HEALTH_CHECK_IDLE_SECONDS = env.float("CONN_HEALTH_CHECK_IDLE_SECONDS", default=1.0)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A connection pooler in front of PostgreSQL (docs/operations.md). DATABASE_POOLER=pgbouncer (or its older
# spelling PGBOUNCER_TRANSACTION_POOLING=true) when DATABASE_URL points at PgBouncer in transaction pooling mode:
# consecutive transactions of one Django connection may run on different server connections, so nothing may live
# longer than a transaction. Server-side cursors (.iterator()) are named cursors that outlive it, and so are
# prepared statements; the code's other session state is already transaction-scoped (SET LOCAL in
# backoffice.analytics, row locks and transaction-scoped advisory locks).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in {"", "pgbouncer"}:
    raise ImproperlyConfigured("DATABASE_POOLER must be empty or pgbouncer.")
BEHIND_PGBOUNCER = DATABASE_POOLER == "pgbouncer" or env.bool("PGBOUNCER_TRANSACTION_POOLING", default=False)
#: A statement sent this many times on one connection is prepared there (psycopg 3, server-side binding), and
#: PostgreSQL stops parsing and planning it again: for the till's short statements that was half of
#: PostgreSQL's time (bench/README.md). 0 binds client-side with no prepared statements, Django's default and
#: the only choice behind PgBouncer before 1.21 (prepared statements need its max_prepared_statements).
DATABASE_PREPARE_THRESHOLD = env.int("DATABASE_PREPARE_THRESHOLD", default=0 if BEHIND_PGBOUNCER else 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections with health checks; the ledger relies on PostgreSQL row locks. A health check is one
    # `SELECT 1` on a reused connection idle for over CONN_HEALTH_CHECK_IDLE_SECONDS: CONN_HEALTH_CHECKS=false
    # saves it, and a connection that died then fails one request (which closes it) instead of being replaced.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    if BEHIND_PGBOUNCER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    if DATABASE_PREPARE_THRESHOLD > 0:
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=DATABASE_PREPARE_THRESHOLD
        )
else:
    # SQLite serialises writers; a generous timeout avoids "database is locked" under the dev server.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://loyalty")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, building its Redis client once per process instead of once per cache call.
    CACHES["default"]["BACKEND"] = "integrations.cache.RedisCache"

# --- Auth and accounts ----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "members:dashboard"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "members.forms.SignupExtraForm"
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, stated so operators see them: failed logins per IP and per account.
    "login_failed": env.str("LOGIN_FAILED_RATE", default="10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
# Behind a load balancer or reverse proxy every request arrives from the proxy's address, so per-IP limits would
# count all customers together. TRUSTED_PROXY_COUNT says how many proxies of ours append to X-Forwarded-For;
# the client address is read that many hops from the right. 0 (the default, no proxy) ignores the header: a
# client cannot forge its own address. TRUSTED_CLIENT_IP_HEADER names a header a proxy sets instead (X-Real-IP).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="") or None
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Loyalty"

# --- Internationalisation -------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our own date formats per language (loyalty_site/formats/<lang>/formats.py): one style everywhere.
FORMAT_MODULE_PATH = ["loyalty_site.formats"]

# --- Static and media -----------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Email ----------------------------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Loyalty <rewards@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Without a broker every task runs in-process, so development and tests need nothing running. Never in
# production: a task run eagerly runs inside the request that queued it (a hanging webhook would hold a purchase's
# response), so production without a broker fails its system check instead (integrations.checks, loyalty.E001).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL and not PRODUCTION)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# The longest a task may run (the hard limit kills it; imports resume, batch jobs are re-run, both idempotent),
# and the broker's visibility timeout just above it: Redis hands an unacknowledged message (its worker killed) to
# another worker only after that timeout, so it must outlast the longest task, or a task still running would be
# handed out twice. docs/operations.md, "Faults".
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=2 * 60 * 60)
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 5 * 60)
# Accounts per transaction of the nightly expiry run (members.services.batch.points_expire_due).
POINTS_EXPIRY_BATCH_ACCOUNTS = env.int("POINTS_EXPIRY_BATCH_ACCOUNTS", default=5000)
# An import's runner shows a sign of life after every chunk; one silent for this long has died (its worker was
# killed): staff may resume the job, and a redelivered task takes it over.
IMPORT_HEARTBEAT_TIMEOUT = env.int("IMPORT_HEARTBEAT_TIMEOUT", default=5 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for messages whose worker died (seconds between sweeps, and every Nth sweep scans).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_BEAT_SCHEDULE = {
    "points-release-pending": {
        "task": "members.tasks.release_pending_points",
        "schedule": timedelta(minutes=15),
    },
    "points-expire": {"task": "members.tasks.expire_points", "schedule": crontab(minute=10, hour=2)},
    "points-expiry-reminders": {
        "task": "members.tasks.send_expiry_reminders",
        "schedule": crontab(minute=0, hour=9),
    },
    "tiers-evaluate": {"task": "members.tasks.evaluate_tiers", "schedule": crontab(minute=30, hour=3)},
    "subscriptions-daily": {"task": "members.tasks.subscriptions_daily", "schedule": crontab(minute=15, hour=1)},
    "vouchers-expire": {"task": "rewards.tasks.expire_vouchers", "schedule": crontab(minute=5)},
    "referrals-expire": {"task": "referrals.tasks.expire_referrals", "schedule": crontab(minute=45, hour=3)},
    "api-idempotency-purge": {"task": "integrations.tasks.purge_idempotency_records", "schedule": timedelta(hours=1)},
    # Deliveries whose task was lost (a worker killed, a broker or database outage) are queued again.
    "webhooks-sweep": {"task": "integrations.tasks.webhook_deliveries_sweep", "schedule": timedelta(minutes=1)},
    # After midnight, once the day's transactions have committed; each run also re-checks the two days before.
    "analytics-rollup": {"task": "backoffice.tasks.analytics_rollup_task", "schedule": crontab(minute=20, hour=0)},
}
CELERY_BEAT_SCHEDULE |= {
    "campaigns-advance": {"task": "campaigns.tasks.advance_campaigns", "schedule": timedelta(minutes=1)},
    "campaigns-birthday-gifts": {"task": "campaigns.tasks.birthday_gifts", "schedule": crontab(minute=0, hour=7)},
    "campaigns-emails": {"task": "campaigns.tasks.send_campaign_emails", "schedule": crontab(minute=0, hour=10)},
}
CELERY_BEAT_SCHEDULE |= {
    "feedback-requests": {"task": "members.tasks.send_feedback_requests", "schedule": crontab(minute=40)},
}

# --- REST API -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.api.authentication.APIKeyAuthentication",
        "integrations.api.authentication.MemberSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["integrations.api.throttling.APIKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_KEY_THROTTLE_RATE", default="1200/min")},
    "EXCEPTION_HANDLER": "integrations.api.errors.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty API",
    "DESCRIPTION": "Purchases, refunds, members, rewards and vouchers for tills and e-shops.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from the drf-spectacular-sidecar package: nothing loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Input strings get the patterns the serializers enforce (no NUL; not blank where required).
        "integrations.api.schema.constrain_input_strings",
    ],
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- Security -------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logs: one JSON object per line in production (LOG_FORMAT=json), plain text in development ---------------
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "integrations.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "integrations.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The request line is logged by loyalty_site.middleware; Django's own per-request lines would repeat it.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
# Celery workers keep this configuration (JSON lines too) instead of installing their own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Development serves static files straight from the finders; production serves the collected, hashed files.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Operations: health, metrics, request logs (docs/operations.md) -----------------------------------------------
# Outermost middleware: the request id, the request's log line and its metrics cover every other middleware.
MIDDLEWARE.insert(0, "loyalty_site.middleware.RequestObservabilityMiddleware")
# /metrics wants "Authorization: Bearer <METRICS_TOKEN>"; unset in production, it answers 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Load balancers probe the nodes over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/"]

# --- Operations: Celery queues and the one beat (docs/operations.md) ----------------------------------------------
# Slow or bursty work gets its own queue and worker pool, so a campaign's e-mails or a large import never delay a
# webhook; every task not named here goes to "celery", the default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "integrations.tasks.webhook_deliver_task": {"queue": "webhooks"},
    "integrations.tasks.webhook_deliveries_sweep": {"queue": "webhooks"},
    "members.tasks.send_expiry_reminders": {"queue": "emails"},
    "campaigns.tasks.send_campaign_emails": {"queue": "emails"},
    "campaigns.tasks.campaign_emails": {"queue": "emails"},
    "members.staff.import_job_run": {"queue": "imports"},
    **{
        name: {"queue": "batch"}
        for name in (
            "members.tasks.release_pending_points",
            "members.tasks.expire_points",
            "members.tasks.evaluate_tiers",
            "rewards.tasks.expire_vouchers",
            "referrals.tasks.expire_referrals",
            "integrations.tasks.purge_idempotency_records",
            "backoffice.tasks.analytics_rollup_task",
            "campaigns.tasks.advance_campaigns",
            "campaigns.tasks.birthday_gifts",
            "campaigns.tasks.campaign_manual_bonus",
            "campaigns.tasks.campaign_birthday",
        )
    },
}
CELERY_TASK_ROUTES["members.tasks.send_feedback_requests"] = {"queue": "emails"}
CELERY_QUEUE_NAMES = ["celery", "webhooks", "emails", "batch", "imports"]
# Beat must run once: a second beat (a redeploy overlapping, a node started twice) waits on a lock in the shared
# cache (CACHE_URL, Redis in production) and sends nothing while the first one holds it.
CELERY_BEAT_SCHEDULER = "loyalty_site.beat:SingleBeatScheduler"
BEAT_LOCK_TTL = env.int("BEAT_LOCK_TTL", default=60)

# --- Operations: a read replica for the staff console's reports (docs/operations.md) ------------------------------
# DATABASE_REPLICA_URL adds the "replica" alias; backoffice routes its analytics, exports and liability reads
# there explicitly (integrations.replica). Writes and migrations always go to "default". In tests the alias
# mirrors the default test database.
DATABASE_ROUTERS = ["integrations.replica.ReplicaRouter"]
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    # Reached directly (not through the transaction pooler), so the exports keep their server-side cursors.
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if _key in DATABASES["default"]:
            DATABASES["replica"][_key] = DATABASES["default"][_key]
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
