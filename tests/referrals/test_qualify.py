from datetime import timedelta

import pytest
from django.utils import timezone

from members import hooks
from members.models import LedgerEntry, Member, PointsAccount
from members.selectors import member_get
from referrals.models import Referral, ReferralEvent
from referrals.services import (
    on_purchase_recorded,
    purchase_co_locks,
    referral_qualify,
    referrals_expire_overdue,
)
from tests.factories import MemberFactory, referral_program_set, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
State = Referral.State


def _balance(member):
    return PointsAccount.objects.get(pk=member.pk).balance


def _referral_entries(referral):
    return dict(
        LedgerEntry.objects.filter(idempotency_key__startswith=f"referral:{referral.pk}:").values_list(
            "idempotency_key", "points"
        )
    )


def test_first_qualifying_purchase_pays_both_sides_through_the_ledger():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    referrer_before = _balance(referrer)
    result = referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert referral.qualifying_purchase == result.purchase
    assert (referral.referrer_points, referral.friend_points) == (500, 250)
    assert _referral_entries(referral) == {
        f"referral:{referral.pk}:referrer": 500,
        f"referral:{referral.pk}:friend": 250,
    }
    entry = LedgerEntry.objects.get(idempotency_key=f"referral:{referral.pk}:referrer")
    assert entry.kind == LedgerEntry.Kind.REFERRAL and entry.source == referral
    assert _balance(referrer) == referrer_before + 500
    # The friend's purchase points are pending in the return window; the welcome bonus is spendable.
    assert _balance(friend) == 250
    event = referral.events.get(rule=ReferralEvent.Rule.QUALIFICATION)
    assert event.outcome == ReferralEvent.Outcome.QUALIFIED and "500 points to the referrer" in event.reason


def test_configured_amounts_are_paid():
    referral_program_set(referrer_points=1000, friend_points=0)
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert (referral.referrer_points, referral.friend_points) == (1000, 0)
    assert _referral_entries(referral) == {f"referral:{referral.pk}:referrer": 1000}


def test_purchase_below_the_minimum_does_not_qualify_but_a_later_one_does():
    referral_program_set(min_purchase_amount="30.00")
    friend, referral = referred_friend(MemberFactory())
    referral_purchase(friend, "29.99")
    referral.refresh_from_db()
    assert referral.state == State.PENDING
    assert not _referral_entries(referral)
    second = referral_purchase(friend, "30.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED and referral.qualifying_purchase == second.purchase


def test_purchase_after_the_window_expires_the_referral():
    referral_program_set(qualify_within_days=30)
    friend, referral = referred_friend(MemberFactory())
    Member.objects.filter(pk=friend.pk).update(enrolled_at=timezone.now() - timedelta(days=31))
    referral_purchase(friend, "50.00")
    referral.refresh_from_db()
    assert referral.state == State.EXPIRED
    assert referral.reason == "No qualifying purchase within 30 days of joining."
    assert not _referral_entries(referral)


def test_only_the_first_qualifying_purchase_pays():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    referral_purchase(friend, "25.00")
    referral_purchase(friend, "80.00")
    assert len(_referral_entries(referral)) == 2
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL).count() == 2


def test_a_retried_purchase_hook_pays_once():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    result = referral_purchase(friend, "25.00")
    referrer_balance = _balance(referrer)
    # The same event delivered again (a retry, a duplicate) and the service called again directly.
    result.replayed = False
    on_purchase_recorded(result)
    for hook in hooks.purchase_recorded:
        hook(result)
    referral_qualify(referral=referral, purchase=result.purchase)
    # And the till re-sending the very same purchase.
    again = referral_purchase(friend, "25.00", external_id=result.purchase.external_id)
    assert again.replayed
    assert _balance(referrer) == referrer_balance
    assert len(_referral_entries(referral)) == 2
    assert referral.events.filter(rule=ReferralEvent.Rule.QUALIFICATION).count() == 1


def test_held_referral_remembers_the_purchase_without_paying():
    referral_program_set(velocity_max_per_hour=0)
    friend, referral = referred_friend(MemberFactory())
    assert referral.state == State.HELD
    result = referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.HELD
    assert referral.qualifying_purchase == result.purchase
    assert not _referral_entries(referral)
    assert referral.events.filter(outcome=ReferralEvent.Outcome.NOTED).count() == 1


def test_cap_is_enforced_again_when_paying():
    referral_program_set(max_per_referrer_per_month=1)
    referrer = MemberFactory()
    first_friend, first = referred_friend(referrer)
    second_friend, second = referred_friend(referrer)
    assert second.state == State.PENDING  # nobody had qualified yet at sign-up
    referral_purchase(first_friend, "25.00")
    referral_purchase(second_friend, "25.00")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == State.QUALIFIED
    assert second.state == State.HELD
    assert second.reason == "The referrer already has 1 qualified referrals this month (cap 1)."
    assert second.qualifying_purchase is not None
    assert not _referral_entries(second)


def test_referrer_whose_membership_closed_gets_nothing_but_the_friend_is_rewarded():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.CLOSED)
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert (referral.referrer_points, referral.friend_points) == (0, 250)
    assert _referral_entries(referral) == {f"referral:{referral.pk}:friend": 250}


def test_purchase_hook_costs_one_query_for_members_without_a_referral(django_assert_num_queries):
    member = MemberFactory()
    result = referral_purchase(member, "25.00")
    result.replayed = False
    with django_assert_num_queries(1):
        on_purchase_recorded(result)


def test_purchase_hook_costs_no_query_for_members_past_the_qualifying_window(django_assert_num_queries):
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(enrolled_at=timezone.now() - timedelta(days=400))
    member.refresh_from_db()
    result = referral_purchase(member, "25.00")
    result.replayed = False
    with django_assert_num_queries(0):
        on_purchase_recorded(result)


def test_the_co_lock_provider_names_the_referrer_of_an_open_referral(django_assert_num_queries):
    referrer = MemberFactory()
    friend, _referral = referred_friend(referrer)
    stranger = MemberFactory()
    with django_assert_num_queries(1):
        assert purchase_co_locks(member=friend, occurred_at=timezone.now()) == [referrer.pk]
    with django_assert_num_queries(1):
        assert purchase_co_locks(member=stranger, occurred_at=timezone.now()) == []


def test_the_tills_member_look_up_reads_the_open_referrer_so_the_co_lock_provider_asks_nothing(
    django_assert_num_queries,
):
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    stranger = MemberFactory()
    loaded_friend = member_get(member_number=friend.member_number)
    loaded_stranger = member_get(member_number=stranger.member_number)
    with django_assert_num_queries(0):
        assert purchase_co_locks(member=loaded_friend, occurred_at=timezone.now()) == [referrer.pk]
        assert purchase_co_locks(member=loaded_stranger, occurred_at=timezone.now()) == []
    # Only open referrals pay: a rejected one is no longer read as open.
    Referral.objects.filter(pk=referral.pk).update(state=State.REJECTED)
    reloaded = member_get(member_number=friend.member_number)
    with django_assert_num_queries(0):
        assert purchase_co_locks(member=reloaded, occurred_at=timezone.now()) == []
    # What was read with the member serves one purchase: the next on the same instance asks afresh.
    with django_assert_num_queries(1):
        assert purchase_co_locks(member=reloaded, occurred_at=timezone.now()) == []


def test_a_till_purchase_by_a_referred_friend_pays_the_referral_with_the_referrer_locked_too():
    """The whole path with the member as the API loads it: the referrer read with the member is locked with the
    buyer, and the purchase qualifies the referral."""
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    loaded = member_get(member_number=friend.member_number)
    referral_purchase(loaded, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert sum(_referral_entries(referral).values()) > 0


def test_the_co_lock_provider_costs_no_query_past_the_qualifying_window(django_assert_num_queries):
    friend, _referral = referred_friend(MemberFactory())
    with django_assert_num_queries(0):
        assert purchase_co_locks(member=friend, occurred_at=timezone.now() + timedelta(days=400)) == []


def test_a_late_purchase_leaves_the_open_referral_to_the_expiry_job():
    referral_program_set(qualify_within_days=10)
    friend, referral = referred_friend(MemberFactory())
    Member.objects.filter(pk=friend.pk).update(enrolled_at=timezone.now() - timedelta(days=11))
    friend.refresh_from_db()
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.PENDING
    assert referrals_expire_overdue() == 1
    referral.refresh_from_db()
    assert referral.state == State.EXPIRED


def test_overdue_pending_referrals_expire_in_a_batch():
    referral_program_set(qualify_within_days=10)
    referrer = MemberFactory()
    old = [referred_friend(referrer)[1] for _ in range(3)]
    _, fresh = referred_friend(referrer)
    Member.objects.filter(pk__in=[r.friend_id for r in old]).update(enrolled_at=timezone.now() - timedelta(days=11))
    assert referrals_expire_overdue(chunk_size=2) == 3
    assert set(Referral.objects.filter(state=State.EXPIRED).values_list("pk", flat=True)) == {r.pk for r in old}
    assert ReferralEvent.objects.filter(rule=ReferralEvent.Rule.EXPIRY).count() == 3
    assert referrals_expire_overdue() == 0
    fresh.refresh_from_db()
    assert fresh.state == State.PENDING


def test_a_new_members_purchase_without_a_referral_asks_for_one_once():
    """The co-lock provider's answer (no open referral, read under the lock) spares the hook its own query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member = MemberFactory()
    referral_purchase(member, "5.00")  # warm caches
    with CaptureQueriesContext(connection) as captured:
        referral_purchase(member, "25.00")
    asked = [query["sql"] for query in captured.captured_queries if "referrals_referral" in query["sql"]]
    assert len(asked) == 1


def test_a_referred_friends_purchase_still_qualifies_after_the_co_lock_read():
    friend, referral = referred_friend(MemberFactory())
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state in {State.QUALIFIED, Referral.State.HELD} and referral.qualifying_purchase is not None
