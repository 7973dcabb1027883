"""The NPS dashboard: NPS, counts and response rates per week and per store/channel against figures worked out by
hand, the chart, the latest comments, the CSV export, its permission and its query count."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from backoffice.models import StaffAuditLog
from backoffice.roles import MARKETER, SUPPORT
from members import nps
from members.services.feedback import feedback_answer, feedback_record, feedback_requests_create, feedback_token
from tests.factories import MemberFactory, StaffUserFactory, SuperUserFactory, buy

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")
START, END = date(2026, 3, 2), date(2026, 3, 15)  # Monday 2 to Sunday 15 March


def at(*args):
    return datetime(*args, tzinfo=AMS)


def by_email(sent_at, score=None, *, store="Utrecht", answered_at=None):
    """A member who bought in ``store`` a day before ``sent_at``, was asked then, and answered ``score`` (or not)."""
    member = MemberFactory()
    buy(member, "12.00", store=store, channel="in_store", occurred_at=sent_at - timedelta(days=1, hours=2))
    [request_id] = feedback_requests_create(now=sent_at)
    if score is not None:
        from members.models import FeedbackRequest

        request = FeedbackRequest.objects.get(pk=request_id)
        comment = f"comment {score}" if score in (3, 10) else ""
        feedback_answer(
            token=feedback_token(request), score=score, comment=comment, now=answered_at or sent_at + timedelta(hours=1)
        )
    return member


def by_app(answered_at, score, *, external_id):
    member = MemberFactory()
    purchase = buy(member, "30.00", store="webshop", channel="online", occurred_at=answered_at - timedelta(hours=1))
    feedback_record(
        member=member,
        score=score,
        external_id=external_id,
        source="app",
        purchase=purchase.purchase,
        now=answered_at,
    )


@pytest.fixture
def answers(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    # Week of 2 March: Utrecht by email 10, 9, 7, 3 (and two requests left unanswered); webshop by app 6, 0.
    for score in (10, 9, 7, 3, None, None):
        by_email(at(2026, 3, 3, 10), score)
    by_app(at(2026, 3, 4, 12), 6, external_id="A-1")
    by_app(at(2026, 3, 5, 12), 0, external_id="A-2")
    # Week of 9 March: Utrecht by email 10, 10, and 8 answered on Sunday 23:30 local (22:30 UTC); one unanswered.
    by_email(at(2026, 3, 10, 10), 10)
    by_email(at(2026, 3, 10, 10), 10)
    by_email(at(2026, 3, 10, 10), 8, answered_at=at(2026, 3, 15, 23, 30))
    by_email(at(2026, 3, 10, 10), None)
    # Monday 16 March 00:30 local is still 15 March in UTC: outside the period.
    by_app(at(2026, 3, 16, 0, 30), 0, external_id="A-3")


def test_nps_arithmetic():
    assert nps.nps_score(promoters=2, detractors=3, responses=6) == Decimal("-16.7")
    assert nps.nps_score(promoters=1, detractors=0, responses=3) == Decimal("33.3")
    assert nps.nps_score(promoters=1, detractors=0, responses=8) == Decimal("12.5")  # half up
    assert nps.nps_score(promoters=0, detractors=0, responses=0) is None
    assert nps.rate_percent(7, 10) == Decimal("70.0") and nps.rate_percent(1, 0) is None


def test_totals_weeks_and_places_match_the_hand_computed_figures(answers):
    total = nps.nps_total(start=START, end=END)
    assert (total.responses, total.promoters, total.passives, total.detractors) == (9, 4, 2, 3)
    assert total.nps == Decimal("11.1")  # (4 − 3) / 9
    assert (total.requests, total.answered_requests, total.response_rate) == (10, 7, Decimal("70.0"))

    weeks = nps.nps_by_week(start=START, end=END)
    assert [(w.week.isoformat(), w.responses, w.nps, w.requests, w.response_rate) for w in weeks] == [
        ("2026-03-02", 6, Decimal("-16.7"), 6, Decimal("66.7")),  # (2 − 3) / 6; 4 of 6 requests answered
        ("2026-03-09", 3, Decimal("66.7"), 4, Decimal("75.0")),  # (2 − 0) / 3; 3 of 4
    ]

    places = {(row.channel, row.store): row for row in nps.nps_by_store_channel(start=START, end=END)}
    assert set(places) == {("in_store", "Utrecht"), ("online", "webshop")}
    utrecht, webshop = places[("in_store", "Utrecht")], places[("online", "webshop")]
    assert (utrecht.responses, utrecht.nps, utrecht.response_rate) == (7, Decimal("42.9"), Decimal("70.0"))  # 3 / 7
    assert (webshop.responses, webshop.nps, webshop.requests, webshop.response_rate) == (2, Decimal("-100.0"), 0, None)


def test_a_week_without_answers_is_shown_empty(answers):
    weeks = nps.nps_by_week(start=START, end=date(2026, 3, 22))

    assert [w.week.isoformat() for w in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert (weeks[2].responses, weeks[2].nps) == (1, Decimal("-100.0"))  # the Monday-00:30 answer


def test_dashboard_page(client, answers, django_assert_max_num_queries):
    client.force_login(SuperUserFactory())
    url = reverse("staff:nps") + f"?start={START}&end={END}"

    client.get(url)  # warm caches (content types, sessions)
    with django_assert_max_num_queries(14):
        page = client.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="nps-total">11.1<' in html and 'id="nps-rate">70.0%<' in html
    assert html.count('class="bar"') == 2 + 2  # NPS and answers per week
    assert 'fill="#b42318"' in html  # the negative first week is drawn below the line
    assert "comment 10" in html and "comment 3" in html
    assert reverse("staff:member_360", args=[page.context["comments"][0].member_id]) in html


def test_csv_export_is_audited(client, answers):
    staff = SuperUserFactory()
    client.force_login(staff)

    response = client.get(reverse("staff:nps_csv") + f"?start={START}&end={END}")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == nps.FEEDBACK_CSV_HEADER
    assert len(rows) == 1 + 9
    assert sorted(int(row[2]) for row in rows[1:]) == [0, 3, 6, 7, 8, 9, 10, 10, 10]
    assert {row[3] for row in rows[1:]} == {"promoter", "passive", "detractor"}
    assert StaffAuditLog.objects.filter(
        actor=staff, action=StaffAuditLog.Action.EXPORTED, object_repr="feedback"
    ).exists()


def test_dashboard_needs_the_reports_permission(client):
    from backoffice.roles import roles_setup

    roles_setup()
    support = StaffUserFactory()
    support.groups.add(Group.objects.get(name=SUPPORT))
    client.force_login(support)
    assert client.get(reverse("staff:nps")).status_code == 403

    marketer = StaffUserFactory()
    marketer.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(marketer)
    assert client.get(reverse("staff:nps")).status_code == 200
    assert client.get(reverse("staff:nps_csv")).status_code == 403  # exports are for managers and auditors


def test_an_invalid_period_is_a_400(client):
    client.force_login(SuperUserFactory())
    assert client.get(reverse("staff:nps") + "?start=2026-03-10&end=2026-03-01").status_code == 400
