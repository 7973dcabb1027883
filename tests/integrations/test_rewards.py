import pytest
from django.db import transaction
from django.utils import timezone

from members.models import PointsAccount
from rewards.models import Redemption, Reward, Voucher
from tests.factories import RewardFactory, points_give
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich_member(member):
    with transaction.atomic():
        points_give(member, 1000)
    return member


def redeem(client, member, body, key="r-1"):
    return post(client, f"/api/v1/members/{member.member_number}/redemptions/", body, key=key)


def test_rewards_list_is_filterable_and_shows_only_available_rewards(api, django_assert_max_num_queries):
    RewardFactory(name="Coffee", slug="coffee", points_cost=200, category="drinks", featured=True)
    RewardFactory(name="Mug", slug="mug", points_cost=900, category="shop")
    RewardFactory(name="Gone", slug="gone", stock=0)
    RewardFactory(name="Off", slug="off", is_active=False)
    with django_assert_max_num_queries(3):
        response = api.get("/api/v1/rewards/")
    assert response.status_code == 200
    assert {reward["slug"] for reward in response.json()["results"]} == {"coffee", "mug"}
    coffee = next(r for r in response.json()["results"] if r["slug"] == "coffee")
    assert coffee["points_cost"] == 200 and coffee["value"] == "5.00"
    assert [r["slug"] for r in api.get("/api/v1/rewards/?category=drinks").json()["results"]] == ["coffee"]
    assert [r["slug"] for r in api.get("/api/v1/rewards/?max_points=500").json()["results"]] == ["coffee"]
    assert [r["slug"] for r in api.get("/api/v1/rewards/?featured=true").json()["results"]] == ["coffee"]
    bad = api.get("/api/v1/rewards/?kind=nonsense")
    assert bad.status_code == 400 and "kind" in bad.json()["error"]["fields"]


def test_redeem_for_a_member_issues_a_voucher_and_debits_points(api, rich_member):
    RewardFactory(slug="five-off", points_cost=300)
    response = redeem(api, rich_member, {"reward": "five-off"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_spent"] == 300 and body["balance"] == 700
    assert body["voucher"]["code"] == Voucher.objects.get().code
    assert body["voucher"]["state"] == "issued" and body["voucher"]["value"] == "5.00"
    again = redeem(api, rich_member, {"reward": "five-off"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1


@pytest.mark.parametrize(
    ("reward_fields", "code"),
    [({"points_cost": 5000}, "insufficient_points"), ({"stock": 0}, "out_of_stock")],
)
def test_redemption_refusals_are_422_and_change_nothing(api, rich_member, reward_fields, code):
    reward = RewardFactory(slug="prize", **reward_fields)
    response = redeem(api, rich_member, {"reward": "prize"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert not Redemption.objects.exists()
    assert PointsAccount.objects.get(pk=rich_member.pk).balance == 1000
    assert Reward.objects.get(pk=reward.pk).stock == reward_fields.get("stock")


def test_redemption_input_errors(api, rich_member):
    assert redeem(api, rich_member, {"reward": "nope"}).status_code == 400
    missing = post(api, "/api/v1/members/M000000000/redemptions/", {"reward": "x"})
    assert missing.status_code == 404


def test_voucher_check_and_use_at_a_till(api, rich_member):
    RewardFactory(slug="five-off", points_cost=300)
    code = redeem(api, rich_member, {"reward": "five-off"}).json()["voucher"]["code"]
    post(api, "/api/v1/purchases/", purchase_body(rich_member, external_id="T-9"), key="p")
    checked = api.get(f"/api/v1/vouchers/{code.lower()}/")
    assert checked.status_code == 200
    assert checked.json()["usable"] is True and checked.json()["refusal"] is None
    used = post(api, f"/api/v1/vouchers/{code}/redeem/", {"purchase_external_id": "T-9"}, key="u-1")
    assert used.status_code == 200, used.json()
    assert used.json()["state"] == "used" and used.json()["purchase_reference"] == "T-9"
    voucher = Voucher.objects.get()
    assert voucher.used_on_purchase.external_id == "T-9"
    # The same request retried is replayed; a second use is refused with the reason.
    assert post(api, f"/api/v1/vouchers/{code}/redeem/", {"purchase_external_id": "T-9"}, key="u-1").status_code == 200
    second = post(api, f"/api/v1/vouchers/{code}/redeem/", {}, key="u-2")
    assert second.status_code == 422 and second.json()["error"]["code"] == "voucher_used"
    after = api.get(f"/api/v1/vouchers/{code}/").json()
    assert after["usable"] is False and after["refusal"]["code"] == "voucher_used"


def test_voucher_errors(api, rich_member):
    missing = api.get("/api/v1/vouchers/NOPE-NOPE/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "voucher_not_found"
    assert post(api, "/api/v1/vouchers/NOPE-NOPE/redeem/", {}, key="x").status_code == 404
    RewardFactory(slug="five-off", points_cost=300)
    code = redeem(api, rich_member, {"reward": "five-off"}).json()["voucher"]["code"]
    bad_purchase = post(api, f"/api/v1/vouchers/{code}/redeem/", {"purchase_external_id": "nope"}, key="y")
    assert bad_purchase.status_code == 400 and "purchase_external_id" in bad_purchase.json()["error"]["fields"]
    Voucher.objects.update(expires_at=timezone.now())
    expired = post(api, f"/api/v1/vouchers/{code}/redeem/", {}, key="z")
    assert expired.status_code == 422 and expired.json()["error"]["code"] == "voucher_expired"


@pytest.mark.parametrize(
    ("method", "url", "scope", "status", "code", "fields"),
    [
        ("get", "/api/v1/rewards/", "rewards:read", 200, None, None),
        ("post", "/api/v1/members/{n}/redemptions/", "redemptions:write", 400, "invalid", ["reward"]),
        ("get", "/api/v1/vouchers/X/", "vouchers:read", 404, "voucher_not_found", ["code"]),
        ("post", "/api/v1/vouchers/X/redeem/", "vouchers:redeem", 404, "voucher_not_found", ["code"]),
    ],
)
def test_rewards_endpoints_need_their_scope(make_client, member, method, url, scope, status, code, fields):
    url = url.format(n=member.member_number)
    client = make_client(scopes=["members:read"])
    response = getattr(client, method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    allowed = make_client(scopes=[scope])
    response = getattr(allowed, method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    # Past the scope check the view answers the empty body (or the unknown code) on its merits.
    assert response.status_code == status
    body = response.json()
    if code is None:
        assert body == {"next": None, "previous": None, "results": []}
    else:
        assert (body["error"]["code"], sorted(body["error"]["fields"])) == (code, fields)


def test_voucher_lookup_with_the_code_in_the_body_answers_like_the_get(api, rich_member, make_client):
    RewardFactory(slug="five-off", points_cost=300)
    code = redeem(api, rich_member, {"reward": "five-off"}).json()["voucher"]["code"]
    by_body = api.post("/api/v1/voucher-lookups/", {"code": code.lower().replace("-", " ")}, format="json")
    assert by_body.status_code == 200
    assert by_body.json() == api.get(f"/api/v1/vouchers/{code}/").json()
    assert by_body.json()["code"] == code and by_body.json()["usable"] is True
    missing = api.post("/api/v1/voucher-lookups/", {"code": "NOPE-NOPE"}, format="json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "voucher_not_found"
    empty = api.post("/api/v1/voucher-lookups/", {}, format="json")
    assert empty.status_code == 400 and list(empty.json()["error"]["fields"]) == ["code"]
    no_scope = make_client(scopes=["members:read"]).post("/api/v1/voucher-lookups/", {"code": code}, format="json")
    assert no_scope.status_code == 403 and no_scope.json()["error"]["code"] == "insufficient_scope"
