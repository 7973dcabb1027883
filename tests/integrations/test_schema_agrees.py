"""The OpenAPI schema says what validation accepts, case by case (issue 16, item 14).

The schemathesis run (``test_schemathesis.py``) finds disagreements by search; these are the ones it found, pinned:
each side, the schema's verdict and the API's answer, must agree.
"""

import re

import pytest

from tests.factories import RewardFactory
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/?format=json").json()


def _parameter(openapi, path, method, name):
    return next(p["schema"] for p in openapi["paths"][path][method]["parameters"] if p["name"] == name)


def _matches(schema, value) -> bool:
    if not re.search(schema["pattern"], value):
        return False
    return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("", False), ("k" * 256, False), ("k" * 255, True), (" padded", False), ("a b", True), ("nul\x00", False)],
)
def test_the_idempotency_key_the_schema_allows_is_the_one_accepted(api, member, openapi, key, accepted):
    schema = _parameter(openapi, "/api/v1/purchases/", "post", "Idempotency-Key")
    assert _matches(schema, key) is accepted
    response = post(api, "/api/v1/purchases/", purchase_body(member), key=key)
    assert (response.status_code == 201) is accepted
    if not accepted:
        assert response.json()["error"]["code"] == "idempotency_key_missing"


@pytest.mark.parametrize("query", ["page_size=null", "page_size=", "page_size=0", "page_size=2&page_size=3"])
def test_a_page_size_that_is_not_one_whole_number_is_refused(api, member, query):
    for url in (f"/api/v1/rewards/?{query}", f"/api/v1/members/{member.member_number}/activity/?{query}"):
        response = api.get(url)
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["page_size"]


def test_a_large_page_size_is_capped_as_documented(api, openapi):
    RewardFactory.create_batch(3)
    assert len(api.get("/api/v1/rewards/?page_size=100000").json()["results"]) == 3
    assert _parameter(openapi, "/api/v1/rewards/", "get", "page_size") == {"type": "integer", "minimum": 1}


@pytest.mark.parametrize("query", ["min_points=0.5", "max_points=", "featured=AAA", "featured=", "kind=a&kind=b"])
def test_reward_filters_refuse_what_the_schema_refuses(api, query):
    assert api.get(f"/api/v1/rewards/?{query}").status_code == 400


def test_amounts_and_strings_carry_the_patterns_validation_applies(openapi):
    components = openapi["components"]["schemas"]
    line = components["PurchaseLineInRequest"]["properties"]
    assert not re.search(line["unit_price"]["pattern"], "")
    assert not re.search(line["unit_price"]["pattern"], "١٢.٥٠")
    assert re.search(line["unit_price"]["pattern"], "12.50")
    assert not re.search(line["sku"]["pattern"], "   ") and not re.search(line["sku"]["pattern"], "A\x00")
    assert components["PurchaseInRequest"]["properties"]["lines"]["minItems"] == 1
    email = components["MemberEnrolInRequest"]["properties"]["email"]
    assert email["minLength"] == 1 and not re.search(email["pattern"], "0@0.a")
    lookup = _parameter(openapi, "/api/v1/members/", "get", "email")
    assert lookup["minLength"] == 1


def test_an_empty_email_is_refused_on_both_paths(api, tiers):
    assert api.get("/api/v1/members/?email=").status_code == 400
    assert post(api, "/api/v1/members/", {"email": ""}).status_code == 400
