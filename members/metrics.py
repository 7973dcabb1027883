"""What the members core counts for Prometheus (definitions in ``integrations.metrics``); no database query."""

from integrations.metrics import PURCHASES


def on_purchase_settled(result) -> None:
    """Count a newly recorded purchase (a replayed external id is not counted); see ``points_moved`` on when."""
    if not result.replayed:
        PURCHASES.labels(channel=result.purchase.channel or "unknown").inc()
