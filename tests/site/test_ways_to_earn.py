"""The member's Ways to earn page, its summary on the home page, and the staff review queue in the admin."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import ActionOccurrence, LedgerEntry, Tier
from members.services.actions import action_record
from tests.factories import MemberFactory, StaffUserFactory, SuperUserFactory, earning_action_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actions():
    gold = Tier.objects.create(name="Gold-ish", rank=9, threshold=9000)
    return {
        "review": earning_action_factory(code="review", name="Write a review", points=50, limit_per_month=3),
        "recycle": earning_action_factory(
            code="recycle", name="Bring back old gear", points=10, unit_name="item recycled", limit_per_year=20
        ),
        "event": earning_action_factory(code="event", name="VIP tasting", points=200, min_tier=gold),
        "off": earning_action_factory(code="off", name="Switched off", is_active=False),
    }


def test_earn_page_needs_a_login(client):
    response = client.get(reverse("members:earn"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_earn_page_shows_each_active_action_and_what_is_left(client, actions, django_assert_max_num_queries):
    member = MemberFactory()
    action_record(member=member, action_code="review", external_id="R-1", source="till")
    action_record(member=member, action_code="recycle", external_id="C-1", source="till", quantity=4)
    client.force_login(member.user)

    client.get(reverse("members:earn"))
    with django_assert_max_num_queries(12):
        page = client.get(reverse("members:earn"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Write a review" in html and "Bring back old gear" in html and "Switched off" not in html
    assert "10 points per item recycled" in html
    assert "2 of 3 left this month" in html and "16 of 20 left this year" in html
    assert "For Gold-ish members and above" in html and "not yet for you" in html
    assert html.count("Credited") >= 2  # the recent actions table


def test_home_page_summarises_ways_to_earn_for_visitors(client, actions):
    html = client.get(reverse("home")).content.decode()

    assert "More ways to earn" in html and "Write a review" in html
    assert "Up to 3 this month" in html and "left" not in html.split("More ways to earn")[1].split("</section>")[0]


def _review(client, occurrence, action, reason):
    return client.post(
        reverse("admin:members_actionoccurrence_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [occurrence.pk], "apply": "1", "reason": reason},
    )


def test_admin_queue_lists_pending_and_approves_through_the_service(client):
    earning_action_factory(code="event", points=150, requires_approval=True)
    member = MemberFactory()
    pending = action_record(member=member, action_code="event", external_id="E-1", source="till").occurrence
    client.force_login(SuperUserFactory())

    queue = client.get(reverse("admin:members_actionoccurrence_changelist"))
    assert member.member_number in queue.content.decode()

    confirm = client.post(
        reverse("admin:members_actionoccurrence_changelist"),
        {"action": "approve_selected", ACTION_CHECKBOX_NAME: [pending.pk]},
    )
    assert confirm.status_code == 200 and "Approve occurrences" in confirm.content.decode()
    done = _review(client, pending, "approve_selected", "Checked the photo")
    assert done.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "credited" and pending.review_reason == "Checked the photo"
    assert LedgerEntry.objects.get(kind="action").points == 150


def test_admin_reject_needs_a_reason(client):
    earning_action_factory(code="event", requires_approval=True)
    pending = action_record(member=MemberFactory(), action_code="event", external_id="E-1", source="t").occurrence
    client.force_login(SuperUserFactory())

    refused = _review(client, pending, "reject_selected", "")
    assert refused.status_code == 200 and "Say why" in refused.content.decode()
    _review(client, pending, "reject_selected", "Not at the event")
    assert ActionOccurrence.objects.get().status == "rejected"


def test_admin_refuses_approving_ones_own(client):
    earning_action_factory(code="event", requires_approval=True)
    staff = SuperUserFactory()
    own = MemberFactory(user=staff)
    pending = action_record(member=own, action_code="event", external_id="E-1", source="t").occurrence
    client.force_login(staff)

    _review(client, pending, "approve_selected", "")

    assert ActionOccurrence.objects.get().status == "pending_review"
    assert not LedgerEntry.objects.filter(kind="action").exists()


def test_support_may_review_but_not_edit_actions(client):
    from django.contrib.auth.models import Group

    from backoffice.roles import SUPPORT, roles_setup

    roles_setup()
    support = StaffUserFactory()
    support.groups.add(Group.objects.get(name=SUPPORT))
    assert support.has_perm("members.review_actionoccurrence")
    assert not support.has_perm("members.change_earningaction")


def test_approvals_and_rejections_are_in_the_audit_log():
    from backoffice.models import StaffAuditLog
    from members.services.actions import action_occurrence_approve, action_occurrence_reject

    earning_action_factory(code="event", points=150, requires_approval=True)
    member = MemberFactory()
    reviewer = StaffUserFactory()
    first = action_record(member=member, action_code="event", external_id="E-1", source="t").occurrence
    second = action_record(member=member, action_code="event", external_id="E-2", source="t").occurrence

    action_occurrence_approve(occurrence=first, actor=reviewer, reason="Seen there")
    action_occurrence_reject(occurrence=second, actor=reviewer, reason="Twice the same day")

    rows = list(StaffAuditLog.objects.filter(member=member).order_by("pk"))
    assert [(row.action, row.actor, row.reason) for row in rows] == [
        (StaffAuditLog.Action.ACTION_APPROVED, reviewer, "Seen there"),
        (StaffAuditLog.Action.ACTION_REJECTED, reviewer, "Twice the same day"),
    ]
    assert (rows[0].before["balance"], rows[0].after["balance"], rows[0].after["points"]) == (0, 150, 150)
