"""Net Promoter Score: the arithmetic and the reads behind the staff NPS dashboard.

NPS = % promoters (9–10) − % detractors (0–6) of the answers, from −100 to +100, to one decimal (half up).
The response rate is answered requests ÷ requests sent, both for the requests emailed in the period; answers an
integration recorded (no request) count towards NPS but not towards the rate. Weeks run Monday to Sunday in the
program's time zone; a period is a range of local dates, both ends included. Each read is one grouped query.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from .models import FeedbackRequest, FeedbackResponse, Purchase

PROMOTERS = Q(score__gte=FeedbackResponse.PROMOTER_MIN)
DETRACTORS = Q(score__lte=FeedbackResponse.DETRACTOR_MAX)
ONE_DECIMAL = Decimal("0.1")


def nps_score(*, promoters: int, detractors: int, responses: int) -> Decimal | None:
    """NPS of ``responses`` answers of which ``promoters`` and ``detractors``; None without answers."""
    if responses <= 0:
        return None
    return (Decimal(100) * (promoters - detractors) / responses).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def rate_percent(part: int, whole: int) -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(100) * part / whole).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass
class NpsFigures:
    label: str = ""
    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    requests: int = 0
    answered_requests: int = 0
    week: date | None = None
    store: str = ""
    channel: str = ""

    @property
    def nps(self) -> Decimal | None:
        return nps_score(promoters=self.promoters, detractors=self.detractors, responses=self.responses)

    @property
    def response_rate(self) -> Decimal | None:
        return rate_percent(self.answered_requests, self.requests)

    @property
    def channel_label(self) -> str:
        return str(Purchase.Channel(self.channel).label) if self.channel in Purchase.Channel.values else self.channel


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _counts():
    return {
        "responses": Count("pk"),
        "promoters": Count("pk", filter=PROMOTERS),
        "detractors": Count("pk", filter=DETRACTORS),
    }


def _request_counts():
    return {"requests": Count("pk"), "answered_requests": Count("pk", filter=Q(answered_at__isnull=False))}


def _fill(figures: NpsFigures, row: dict) -> None:
    for key in ("responses", "promoters", "detractors", "requests", "answered_requests"):
        if key in row:
            setattr(figures, key, row[key])
    figures.passives = figures.responses - figures.promoters - figures.detractors


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def nps_total(*, start: date, end: date) -> NpsFigures:
    low, high = _bounds(start, end)
    figures = NpsFigures(label="total")
    _fill(figures, FeedbackResponse.objects.filter(answered_at__gte=low, answered_at__lt=high).aggregate(**_counts()))
    _fill(figures, FeedbackRequest.objects.filter(sent_at__gte=low, sent_at__lt=high).aggregate(**_request_counts()))
    return figures


def nps_by_week(*, start: date, end: date) -> list[NpsFigures]:
    """One row per week (Monday) overlapping the period, weeks without answers included."""
    low, high = _bounds(start, end)
    first = start - timedelta(days=start.weekday())
    weeks = {}
    day = first
    while day <= end:
        weeks[day] = NpsFigures(label=day.isoformat(), week=day)
        day += timedelta(days=7)
    answers = (
        FeedbackResponse.objects.filter(answered_at__gte=low, answered_at__lt=high)
        .annotate(week=TruncWeek("answered_at"))
        .values("week")
        .annotate(**_counts())
        .order_by()
    )
    for row in answers:
        _fill(weeks.setdefault(_as_date(row["week"]), NpsFigures(week=_as_date(row["week"]))), row)
    sent = (
        FeedbackRequest.objects.filter(sent_at__gte=low, sent_at__lt=high)
        .annotate(week=TruncWeek("sent_at"))
        .values("week")
        .annotate(**_request_counts())
        .order_by()
    )
    for row in sent:
        _fill(weeks.setdefault(_as_date(row["week"]), NpsFigures(week=_as_date(row["week"]))), row)
    return [weeks[week] for week in sorted(weeks)]


def nps_by_store_channel(*, start: date, end: date) -> list[NpsFigures]:
    """One row per (channel, store) with answers or requests in the period, most answers first."""
    low, high = _bounds(start, end)
    rows: dict[tuple[str, str], NpsFigures] = {}
    answers = (
        FeedbackResponse.objects.filter(answered_at__gte=low, answered_at__lt=high)
        .values("channel", "store")
        .annotate(**_counts())
        .order_by()
    )
    for row in answers:
        key = (row["channel"], row["store"])
        _fill(rows.setdefault(key, NpsFigures(channel=key[0], store=key[1])), row)
    sent = (
        FeedbackRequest.objects.filter(sent_at__gte=low, sent_at__lt=high)
        .values("purchase__channel", "purchase__store")
        .annotate(**_request_counts())
        .order_by()
    )
    for row in sent:
        key = (row["purchase__channel"], row["purchase__store"])
        _fill(rows.setdefault(key, NpsFigures(channel=key[0], store=key[1])), row)
    return sorted(rows.values(), key=lambda figures: (-figures.responses, figures.channel, figures.store))


def feedback_latest(*, start: date, end: date, limit: int = 20, with_comment: bool = True) -> list[FeedbackResponse]:
    low, high = _bounds(start, end)
    answers = FeedbackResponse.objects.filter(answered_at__gte=low, answered_at__lt=high)
    if with_comment:
        answers = answers.exclude(comment="")
    return list(answers.select_related("member", "purchase").order_by("-answered_at", "-pk")[:limit])


FEEDBACK_CSV_HEADER = [
    "answered_at",
    "member_number",
    "score",
    "group",
    "comment",
    "channel",
    "store",
    "purchase_external_id",
    "source",
]


def feedback_csv_rows(*, start: date, end: date) -> Iterator[list]:
    """Every answer of the period, oldest first, streamed in chunks."""
    low, high = _bounds(start, end)
    answers = (
        FeedbackResponse.objects.filter(answered_at__gte=low, answered_at__lt=high)
        .select_related("member", "purchase")
        .order_by("answered_at", "pk")
    )
    for answer in answers.iterator(chunk_size=2000):
        yield [
            timezone.localtime(answer.answered_at).isoformat(),
            answer.member.member_number,
            answer.score,
            answer.group,
            answer.comment,
            answer.channel,
            answer.store,
            answer.purchase.external_id if answer.purchase else "",
            answer.source,
        ]
