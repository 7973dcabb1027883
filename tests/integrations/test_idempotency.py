import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import IdempotencyRecord
from integrations.services import idempotency_records_purge
from members.models import LedgerEntry, Purchase
from tests.integrations.conftest import post, purchase_body

URL = "/api/v1/purchases/"


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response(api, member):
    first = post(api, URL, purchase_body(member), key="abc")
    again = post(api, URL, purchase_body(member), key="abc")
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert LedgerEntry.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyRecord.State.COMPLETED and record.response_status == 201


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_422(api, member):
    post(api, URL, purchase_body(member), key="abc")
    response = post(api, URL, purchase_body(member, external_id="T-2"), key="abc")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Purchase.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_api_key(make_client, member):
    first, second = make_client(name="A"), make_client(name="B")
    assert post(first, URL, purchase_body(member), key="same").status_code == 201
    response = post(second, URL, purchase_body(member, external_id="T-2"), key="same")
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", "x" * 256])
def test_writes_from_integrations_need_a_key(api, member, key):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = api.post(URL, purchase_body(member), format="json", **extra)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert not Purchase.objects.exists()


@pytest.mark.django_db
def test_invalid_request_frees_the_key_for_the_corrected_request(api, member):
    bad = post(api, URL, purchase_body(member, lines=[]), key="abc")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    good = post(api, URL, purchase_body(member), key="abc")
    assert good.status_code == 201


@pytest.mark.django_db
def test_business_refusals_are_stored_and_replayed(api, member):
    first = post(api, URL, purchase_body(member, currency="USD"), key="abc")
    assert first.status_code == 422
    again = post(api, URL, purchase_body(member, currency="USD"), key="abc")
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_enrolment_conflict_is_replayed_too(api, member):
    body = {"email": member.user.email}
    assert post(api, "/api/v1/members/", body, key="e").status_code == 409
    again = post(api, "/api/v1/members/", body, key="e")
    assert again.status_code == 409 and again.json()["error"]["member_number"] == member.member_number


@pytest.mark.django_db
def test_an_abandoned_in_flight_key_can_be_taken_over(api, member):
    IdempotencyRecord.objects.create(
        api_key=api.api_key,
        key="abc",
        request_hash="x",
        locked_at=timezone.now() - timedelta(hours=1),
    )
    # Same key, different hash: still refused; the stale claim is only taken over by the same request.
    assert post(api, URL, purchase_body(member), key="abc").status_code == 422


@pytest.mark.django_db
def test_purge_keeps_keys_for_at_least_24_hours(api, member, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 1  # never below 24
    post(api, URL, purchase_body(member), key="new")
    post(api, URL, purchase_body(member, external_id="T-2"), key="old")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=23))
    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
def test_purge_task_runs(api, member):
    from integrations.tasks import purge_idempotency_records

    post(api, URL, purchase_body(member), key="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert purge_idempotency_records.delay().get() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_request_racing_one_in_flight_with_the_same_key_gets_409(make_client, member, monkeypatch):
    from members.api import views

    client = make_client()
    started, release = threading.Event(), threading.Event()
    real_record = views.purchase_record

    def slow_record(**kwargs):
        started.set()
        assert release.wait(10)
        return real_record(**kwargs)

    monkeypatch.setattr(views, "purchase_record", slow_record)
    results = {}

    def first():
        try:
            other = APIClient()
            other.credentials(HTTP_AUTHORIZATION=f"Api-Key {client.raw_key}")
            results["first"] = post(other, URL, purchase_body(member), key="race")
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    try:
        racing = post(client, URL, purchase_body(member), key="race")
    finally:
        release.set()
        thread.join(10)
    assert racing.status_code == 409
    assert racing.json()["error"]["code"] == "idempotency_request_in_progress"
    assert results["first"].status_code == 201
    after = post(client, URL, purchase_body(member), key="race")
    assert after.status_code == 201 and after["Idempotent-Replayed"] == "true"
    assert LedgerEntry.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_many_concurrent_retries_post_points_once(make_client, member):
    client = make_client()
    statuses = []
    barrier = threading.Barrier(8)

    def send():
        try:
            other = APIClient()
            other.credentials(HTTP_AUTHORIZATION=f"Api-Key {client.raw_key}")
            barrier.wait(10)
            statuses.append(post(other, URL, purchase_body(member), key="storm").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert Purchase.objects.count() == 1
    assert LedgerEntry.objects.count() == 1
