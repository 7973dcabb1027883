"""The platform's Prometheus metrics: every counter and histogram the apps and the site increment.

They live here, in the integration platform, because every app may import ``integrations`` and none may import
``loyalty_site``: ``members`` counts purchases and points where it posts them, ``integrations`` counts
idempotency conflicts, and ``loyalty_site`` (the request middleware, the Celery signals, the ``/metrics`` view)
counts requests and task failures. Incrementing one costs no database query: the value lives in the process (or,
under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set, in that directory's memory-mapped files, which the
``/metrics`` view merges). Gauges that need the database or the broker are read at scrape time by
``loyalty_site.metrics``.
"""

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "loyalty_http_requests",
    "HTTP requests answered, by the resolver's route (never the raw path), method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "loyalty_http_request_duration_seconds",
    "Time to answer a request, by route and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PURCHASES = Counter(
    "loyalty_purchases_recorded", "Purchases recorded (a replayed external id is not counted), by channel.", ["channel"]
)
POINTS = Counter(
    "loyalty_points",
    "Points moved through the ledger: issued, redeemed or expired.",
    ["movement"],
)
IDEMPOTENCY_CONFLICTS = Counter(
    "loyalty_idempotency_conflicts",
    "Idempotency-Key claims refused: another body for the same key (mismatch) or the first still running.",
    ["reason"],
)
TASK_FAILURES = Counter("loyalty_celery_task_failures", "Celery tasks that raised, by task name.", ["task"])

#: Ledger entry kinds counted as points issued or redeemed (expiry is counted by the expiry job).
ISSUING_KINDS = frozenset({"earn", "bonus", "referral", "import"})
ISSUING_KINDS |= {"action"}  # points for surveys, reviews, recycling…
REDEEMING_KINDS = frozenset({"redeem"})


def points_moved(*, kind: str, points: int) -> None:
    """Count one ledger entry's points as issued or redeemed.

    Counted when posted, inside the writer's transaction, not after commit: a callback per entry on the hot path
    would cost more than the rare rolled-back write (a failing hook, a lock timeout) it would leave out.
    """
    if kind in ISSUING_KINDS and points > 0:
        POINTS.labels(movement="issued").inc(points)
    elif kind in REDEEMING_KINDS and points < 0:
        POINTS.labels(movement="redeemed").inc(-points)
