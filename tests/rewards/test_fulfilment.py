import csv
import io

import pytest

from rewards.exceptions import CancellationNotAllowed, FulfilmentNotAllowed
from rewards.models import Redemption, Reward
from rewards.services import (
    ShippingAddress,
    redemption_cancel,
    redemption_mark_delivered,
    redemption_mark_shipped,
    redemptions_mark_delivered,
    redemptions_mark_shipped,
    reward_redeem,
)
from tests.factories import RewardFactory
from tests.rewards.conftest import balance

pytestmark = pytest.mark.django_db

ADDRESS = ShippingAddress(name="Dana Demo", line1="Damrak 1", postcode="1012 LG", city="Amsterdam", country="NL")


@pytest.fixture
def mug():
    return RewardFactory(
        kind=Reward.Kind.FREE_PRODUCT, name="Mug", requires_shipping=True, points_cost=100, stock=10, value=None
    )


def ship(member, reward, key):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, shipping_address=ADDRESS)


def test_pending_then_shipped_then_delivered(member, mug):
    redemption = ship(member, mug, "a")
    assert redemption.fulfilment_status == Redemption.Fulfilment.PENDING
    with pytest.raises(FulfilmentNotAllowed):
        redemption_mark_delivered(redemption=redemption)
    redemption = redemption_mark_shipped(redemption=redemption, tracking_reference="3SABC123")
    assert redemption.fulfilment_status == Redemption.Fulfilment.SHIPPED
    assert redemption.shipped_at and redemption.tracking_reference == "3SABC123"
    with pytest.raises(FulfilmentNotAllowed):
        redemption_mark_shipped(redemption=redemption)
    redemption = redemption_mark_delivered(redemption=redemption)
    assert redemption.fulfilment_status == Redemption.Fulfilment.DELIVERED and redemption.delivered_at


def test_bulk_moves_only_those_in_the_right_step(member, mug):
    first, second, third = (ship(member, mug, key) for key in "abc")
    voucher_only = reward_redeem(member=member, reward=RewardFactory(points_cost=10), idempotency_key="v")
    redemption_mark_shipped(redemption=third)
    ids = [first.pk, second.pk, third.pk, voucher_only.pk]
    assert redemptions_mark_shipped(redemption_ids=ids) == 2
    assert redemptions_mark_delivered(redemption_ids=ids) == 3
    assert Redemption.objects.filter(fulfilment_status=Redemption.Fulfilment.DELIVERED).count() == 3
    voucher_only.refresh_from_db()
    assert voucher_only.fulfilment_status == Redemption.Fulfilment.NOT_REQUIRED


def test_staff_cancel_before_shipping_returns_points_and_stock(member, mug):
    redemption = ship(member, mug, "a")
    redemption_cancel(redemption=redemption)
    assert balance(member) == 1000
    mug.refresh_from_db()
    assert mug.stock == 10
    shipped = ship(member, mug, "b")
    redemption_mark_shipped(redemption=shipped)
    with pytest.raises(CancellationNotAllowed, match="already shipped"):
        redemption_cancel(redemption=shipped)


def test_donations_cannot_be_cancelled(member):
    reward = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=10)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="d", points=10)
    with pytest.raises(CancellationNotAllowed):
        redemption_cancel(redemption=redemption)


def test_admin_bulk_actions_and_shipping_list_csv(admin_client, member, mug):
    first, second = ship(member, mug, "a"), ship(member, mug, "b")
    url = "/admin/rewards/redemption/"
    response = admin_client.post(url, {"action": "mark_shipped", "_selected_action": [first.pk, second.pk]})
    assert response.status_code == 302
    assert Redemption.objects.filter(fulfilment_status=Redemption.Fulfilment.SHIPPED).count() == 2
    admin_client.post(url, {"action": "mark_delivered", "_selected_action": [first.pk]})
    first.refresh_from_db()
    assert first.fulfilment_status == Redemption.Fulfilment.DELIVERED

    response = admin_client.post(url, {"action": "export_shipping_list", "_selected_action": [first.pk, second.pk]})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["redemption", "redeemed_at", "member_number", "reward"]
    assert len(rows) == 3
    assert rows[1][3] == "Mug" and rows[1][5] == "Dana Demo" and rows[1][9] == "Amsterdam"
    assert rows[1][2] == member.member_number


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1:A9)", "\tTAB", "\rCR"])
def test_shipping_list_csv_escapes_what_a_spreadsheet_would_run(admin_client, member, mug, typed):
    """Names and addresses are typed by members: a cell that would start a formula gets a leading apostrophe."""
    address = ShippingAddress(name=typed, line1=typed, postcode="1012 LG", city=typed, country="NL")
    redemption = reward_redeem(member=member, reward=mug, idempotency_key="formula", shipping_address=address)
    # As stored before the service stripped input (tab and CR at the start), or by any other writer.
    Redemption.objects.filter(pk=redemption.pk).update(
        shipping_name=typed, shipping_line1=typed, shipping_line2=typed, shipping_city=typed
    )
    response = admin_client.post(
        "/admin/rewards/redemption/", {"action": "export_shipping_list", "_selected_action": [redemption.pk]}
    )
    header, row = csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline=""))
    cells = dict(zip(header, row, strict=True))
    for column in ("name", "address_line1", "address_line2", "city"):
        assert cells[column] == "'" + typed, column
    assert (cells["quantity"], cells["postcode"], cells["country"]) == ("1", "1012 LG", "NL")
