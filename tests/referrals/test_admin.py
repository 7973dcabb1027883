import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import LedgerEntry, PointsAccount
from referrals.exceptions import ReasonRequired, ReferralNotReviewable
from referrals.models import DisposableEmailDomain, Referral, ReferralEvent, ReferralProgram
from referrals.services import referral_approve, referral_reject
from tests.factories import MemberFactory, SuperUserFactory, referral_program_set, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
State = Referral.State
QUEUE = "admin:referrals_heldreferral_changelist"


@pytest.fixture
def staff_client(client):
    staff = SuperUserFactory()
    client.force_login(staff)
    client.staff = staff
    return client


def _held(purchase=False):
    referral_program_set(velocity_max_per_hour=0)
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    assert referral.state == State.HELD
    if purchase:
        referral_purchase(friend, "25.00")
    referral_program_set(velocity_max_per_hour=5)
    return referrer, friend, referral


def _action(client, action, referrals, reason=None, url=QUEUE):
    data = {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in referrals]}
    if reason is not None:
        data.update(apply="1", reason=reason)
    return client.post(reverse(url), data)


def test_review_queue_lists_only_held_referrals(staff_client):
    _, _, held = _held()
    _, pending = referred_friend(MemberFactory())
    response = staff_client.get(reverse(QUEUE))
    assert response.status_code == 200
    ids = [row.pk for row in response.context["cl"].result_list]
    assert ids == [held.pk]
    assert pending.pk not in ids


def test_approve_asks_for_a_reason_then_pays_an_already_qualifying_purchase(staff_client):
    referrer, friend, referral = _held(purchase=True)
    confirm = _action(staff_client, "approve_referrals", [referral])
    assert confirm.status_code == 200
    assert b"Approved after review." in confirm.content  # default reason offered
    response = _action(staff_client, "approve_referrals", [referral], reason="Known family, fine")
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert referral.reviewed_by == staff_client.staff
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 500
    assert PointsAccount.objects.get(pk=friend.pk).balance == 250
    approved = referral.events.get(outcome=ReferralEvent.Outcome.APPROVED)
    assert (approved.reason, approved.actor) == ("Known family, fine", staff_client.staff)
    assert LedgerEntry.objects.get(idempotency_key=f"referral:{referral.pk}:referrer").actor == staff_client.staff


def test_approve_without_a_purchase_returns_the_referral_to_pending(staff_client):
    _, friend, referral = _held()
    _action(staff_client, "approve_referrals", [referral], reason="")
    referral.refresh_from_db()
    assert referral.state == State.PENDING
    assert referral.events.get(outcome=ReferralEvent.Outcome.APPROVED).reason == "Approved by staff."
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED


def test_approve_re_evaluates_a_purchase_refunded_meanwhile():
    from members.services.purchases import purchase_refund

    _, _, referral = _held(purchase=True)
    referral.refresh_from_db()
    purchase_refund(purchase=referral.qualifying_purchase, refund_id="R1")
    referral = referral_approve(referral=referral, actor=SuperUserFactory())
    assert referral.state == State.PENDING
    assert referral.qualifying_purchase is None
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL).exists()


def test_reject_through_the_admin_records_reason_and_reviewer(staff_client):
    _, _, referral = _held(purchase=True)
    response = _action(staff_client, "reject_referrals", [referral], reason="Same household, new card")
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.state == State.REJECTED
    assert referral.reason == "Same household, new card"
    assert referral.reviewed_by == staff_client.staff
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL).exists()


def test_reject_needs_a_reason(staff_client):
    _, _, referral = _held()
    response = _action(staff_client, "reject_referrals", [referral], reason="  ")
    assert response.status_code == 200
    assert b"This field is required" in response.content
    referral.refresh_from_db()
    assert referral.state == State.HELD
    with pytest.raises(ReasonRequired):
        referral_reject(referral=referral, actor=staff_client.staff, reason="")


def test_deciding_a_settled_referral_is_refused_with_a_message(staff_client):
    friend, referral = referred_friend(MemberFactory())
    referral_purchase(friend, "25.00")
    response = _action(
        staff_client, "approve_referrals", [referral], reason="x", url="admin:referrals_referral_changelist"
    )
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Only held or pending referrals" in m for m in messages)
    referral.refresh_from_db()
    with pytest.raises(ReferralNotReviewable):
        referral_reject(referral=referral, actor=staff_client.staff, reason="x")


def test_referral_pages_and_settings_render(staff_client):
    _, _, referral = _held()
    held = staff_client.get(reverse("admin:referrals_referral_changelist") + "?state__exact=held")
    assert held.status_code == 200 and [r.pk for r in held.context["cl"].result_list] == [referral.pk]
    change = staff_client.get(reverse("admin:referrals_referral_change", args=[referral.pk]))
    assert change.status_code == 200
    assert b"velocity" in change.content.lower()
    ReferralProgram.objects.get_or_create(pk=1)
    settings_page = staff_client.get(reverse("admin:referrals_referralprogram_change", args=[1]))
    assert settings_page.status_code == 200
    assert {"referrer_points", "friend_points", "min_purchase_amount"} <= set(
        settings_page.context["adminform"].form.fields
    )


def test_staff_can_add_a_disposable_domain(staff_client):
    response = staff_client.post(
        reverse("admin:referrals_disposableemaildomain_add"), {"domain": " @Spam.Example ", "note": "seen in fraud"}
    )
    assert response.status_code == 302
    assert DisposableEmailDomain.objects.filter(domain="spam.example").exists()


def test_statistics_page_with_constant_queries(staff_client, django_assert_max_num_queries):
    top = MemberFactory(email="top@example.com")
    for _ in range(3):
        friend, _ = referred_friend(top)
        referral_purchase(friend, "25.00")
    other_friend, _ = referred_friend(MemberFactory())  # pending
    referral_purchase(referred_friend(MemberFactory())[0], "25.00")
    _, rejected = referred_friend(MemberFactory(), email="x@mailinator.com")
    from members.services.purchases import purchase_refund

    clawed = Referral.objects.filter(referrer=top).first()
    purchase_refund(purchase=clawed.qualifying_purchase, refund_id="R1")

    url = reverse("admin:referrals_referral_statistics")
    with django_assert_max_num_queries(12):
        response = staff_client.get(url)
    assert response.status_code == 200
    stats = response.context["stats"]
    counts = {row["state"]: row["count"] for row in stats["by_state"]}
    assert counts[State.QUALIFIED] == 3 and counts[State.CLAWED_BACK] == 1
    assert counts[State.PENDING] == 1 and counts[State.REJECTED] == 1
    assert stats["attached"] == 5 and stats["converted"] == 4
    assert stats["conversion_rate"] == pytest.approx(80.0)
    assert stats["points_paid"] == 4 * 750
    assert stats["points_clawed_back"] == 750
    assert stats["top_referrers"][0]["referrer__user__email"] == "top@example.com"
    assert stats["top_referrers"][0]["qualified"] == 2
    assert b"80.0%" in response.content
    assert other_friend is not None and rejected.state == State.REJECTED


def test_referrals_are_named_by_their_people_and_the_queue_by_what_it_holds(staff_client):
    referrer, friend, referral = _held()
    assert str(referral) == f"{referrer.display_name} → {friend.display_name} ({referral.get_state_display()})"
    queue = staff_client.get(reverse(QUEUE))
    body = queue.content.decode()
    assert "1 held referral" in body and "review queue (held referrals)" not in body
    assert f"#{referral.pk}:" not in body
