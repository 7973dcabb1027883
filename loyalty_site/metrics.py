"""``/metrics``: the Prometheus exposition, behind a bearer token (``METRICS_TOKEN``).

Counters and histograms are defined in ``integrations.metrics`` and incremented where things happen (no query).
Gauges are read here, at scrape time, with a few cheap statements: webhook deliveries pending and failed (one
``GROUP BY`` over the partial index's rows), the length of each Celery queue on the broker (one ``LLEN`` each on
Redis), the age of the last analytics roll-up (one row) and of the last expiry run (one cache read).

Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (wiped at each start): every worker
process then writes its counters to memory-mapped files there and this view merges them, whichever worker
answers the scrape.
"""

import hmac
import os
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class ScrapeTimeCollector:
    """Gauges that cost a query or a broker call, computed once per scrape."""

    def collect(self):
        yield from self._webhooks()
        yield from self._queues()
        yield from self._ages()

    def _webhooks(self):
        from django.db.models import Count

        from integrations.models import WebhookDelivery

        family = GaugeMetricFamily("loyalty_webhook_deliveries", "Webhook deliveries by status.", labels=["status"])
        wanted = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
        counts = dict(
            WebhookDelivery.objects.filter(status__in=wanted)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        for status in wanted:
            family.add_metric([str(status)], counts.get(status, 0))
        yield family

    def _queues(self):
        family = GaugeMetricFamily(
            "loyalty_celery_queue_length", "Messages waiting per Celery queue.", labels=["queue"]
        )
        broker = getattr(settings, "CELERY_BROKER_URL", "")
        if broker.startswith(("redis://", "rediss://")) and not settings.CELERY_TASK_ALWAYS_EAGER:
            from loyalty_site.celery import app

            with app.connection_for_read() as conn:
                client = conn.default_channel.client
                for queue in getattr(settings, "CELERY_QUEUE_NAMES", ["celery"]):
                    family.add_metric([queue], client.llen(queue))
        yield family

    def _ages(self):
        from django.core.cache import cache

        from backoffice.models import RollupState
        from members.services.batch import EXPIRY_LAST_RUN_KEY

        now = time.time()
        rolled_at = RollupState.objects.filter(pk=1).values_list("rolled_at", flat=True).first()
        family = GaugeMetricFamily(
            "loyalty_rollup_last_run_age_seconds", "Seconds since the analytics roll-up last finished (-1: never)."
        )
        family.add_metric([], now - rolled_at.timestamp() if rolled_at else -1)
        yield family
        last = cache.get(EXPIRY_LAST_RUN_KEY)
        family = GaugeMetricFamily(
            "loyalty_expiry_last_run_age_seconds", "Seconds since the points expiry job last finished (-1: never)."
        )
        family.add_metric([], now - last if last else -1)
        yield family


def exposition() -> bytes:
    """The process's (or, multiprocess, every worker's) counters, then the scrape-time gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    gauges = CollectorRegistry()
    gauges.register(ScrapeTimeCollector())
    return generate_latest(counters) + generate_latest(gauges)


def _authorised(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
def metrics_view(request):
    if not settings.METRICS_TOKEN:
        if not settings.DEBUG:
            raise Http404
    elif not request.headers.get("Authorization"):
        return HttpResponse("Bearer token required.\n", status=401, headers={"WWW-Authenticate": "Bearer"})
    elif not _authorised(request):
        return HttpResponse("Wrong token.\n", status=403)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
