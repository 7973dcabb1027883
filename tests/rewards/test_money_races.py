"""A staff cancel racing a "mark shipped" on PostgreSQL: the redemption's row lock decides, never both."""

import threading
import time

import pytest
from django.db import connection

from rewards import services
from rewards.models import Redemption, Reward
from rewards.services import ShippingAddress, redemption_cancel, redemptions_mark_shipped, reward_redeem
from tests.factories import MemberFactory, RewardFactory, points_give

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
ADDRESS = ShippingAddress(name="Dana Demo", line1="Damrak 1", postcode="1012 LG", city="Amsterdam", country="nl")


def test_a_cancel_holding_the_redemption_keeps_a_concurrent_mark_shipped_out(monkeypatch):
    member = MemberFactory()
    points_give(member, 1000)
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, points_cost=300, value=None, requires_shipping=True)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="r-1", shipping_address=ADDRESS)

    locked = threading.Event()
    refund = services._redemption_refund

    def slow_refund(**kwargs):
        # The cancel has read the redemption (and, with select_for_update, locked it); give the shipper a second.
        locked.set()
        time.sleep(1)
        return refund(**kwargs)

    monkeypatch.setattr(services, "_redemption_refund", slow_refund)
    shipped = []

    def cancel():
        try:
            redemption_cancel(redemption=redemption)
        finally:
            connection.close()

    def ship():
        try:
            assert locked.wait(timeout=30)
            shipped.append(redemptions_mark_shipped(redemption_ids=[redemption.pk], tracking_reference="TRACK-1"))
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel), threading.Thread(target=ship)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    final = Redemption.objects.get(pk=redemption.pk)
    assert shipped == [0]  # the shipper waited for the cancel, then found nothing left to ship
    assert (final.status, final.fulfilment_status) == (Redemption.Status.CANCELLED, Redemption.Fulfilment.PENDING)
    assert final.tracking_reference == ""
