"""Segment writes: staff edits of a segment's rules (audited, see ``members.audit``) and include/exclude lists
uploaded as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members import audit
from members.models import Member, Tier

from ..engine import campaigns_cache_invalidate
from ..exceptions import InvalidSegmentList
from ..models import Segment, SegmentMember

MAX_LIST_ROWS = 200_000


@dataclass
class ListUploadResult:
    matched: int = 0
    added: int = 0
    unknown: list[str] = field(default_factory=list)


def _identifiers(content: str) -> list[str]:
    try:
        reader = csv.reader(io.StringIO(content))
        values = [row[0].strip() for row in reader if row and row[0].strip()]
    except csv.Error as error:
        raise InvalidSegmentList(_("The file is not a valid CSV: %(error)s") % {"error": error}) from error
    if values and values[0].lower() in {"member_number", "email", "member", "id"}:
        values = values[1:]
    if not values:
        raise InvalidSegmentList(_("The file lists no members."))
    if len(values) > MAX_LIST_ROWS:
        raise InvalidSegmentList(_("At most %(max)s rows per file.") % {"max": MAX_LIST_ROWS})
    return values


@transaction.atomic
def segment_list_upload(
    *, segment: Segment, content: bytes | str, excluded: bool, replace: bool = False
) -> ListUploadResult:
    """Put the members named in a CSV (first column: member number or email) on the segment's include or
    exclude list. A member already listed moves to the list uploaded now. ``replace`` empties that list first.
    Unknown rows are reported, not fatal.
    """
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InvalidSegmentList(_("The file must be UTF-8 text.")) from error
    values = _identifiers(content)
    emails = {value.lower() for value in values if "@" in value}
    numbers = {value.upper() for value in values if "@" not in value}
    found: dict[str, int] = {}
    chunk = 5000
    number_list, email_list = sorted(numbers), sorted(emails)
    for start in range(0, len(number_list), chunk):
        found.update(
            Member.objects.filter(member_number__in=number_list[start : start + chunk]).values_list(
                "member_number", "pk"
            )
        )
    for start in range(0, len(email_list), chunk):
        found.update(
            (email.lower(), pk)
            for email, pk in Member.objects.filter(user__email__in=email_list[start : start + chunk]).values_list(
                "user__email", "pk"
            )
        )
    result = ListUploadResult()
    result.unknown = sorted((numbers | emails) - set(found))
    member_ids = set(found.values())
    result.matched = len(member_ids)
    if replace:
        SegmentMember.objects.filter(segment=segment, excluded=excluded).delete()
    before = SegmentMember.objects.filter(segment=segment, member_id__in=member_ids).count() if member_ids else 0
    SegmentMember.objects.bulk_create(
        [
            SegmentMember(segment=segment, member_id=member_id, excluded=excluded, created_at=timezone.now())
            for member_id in sorted(member_ids)
        ],
        update_conflicts=True,
        unique_fields=["segment", "member"],
        update_fields=["excluded"],
        batch_size=2000,
    )
    result.added = len(member_ids) - before
    Segment.objects.filter(pk=segment.pk).update(updated_at=timezone.now())
    transaction.on_commit(campaigns_cache_invalidate)
    return result


def segment_save(*, segment: Segment, actor, tiers: Iterable[Tier] | None = None) -> Segment:
    """Create or change a segment's rules; ``tiers``, when given, replaces its tier list. Running campaigns
    reload their audiences once the change commits; the audit row commits with it."""

    def write() -> None:
        segment.save()
        if tiers is not None:
            segment.tiers.set(tiers)

    audit.rule_save(segment, actor=actor, save=write)
    transaction.on_commit(campaigns_cache_invalidate)
    return segment


def segment_delete(*, segment: Segment, actor) -> None:
    """Delete a segment no campaign uses (campaigns protect their segment); its lists go with it."""
    audit.rule_delete(segment, actor=actor)
    transaction.on_commit(campaigns_cache_invalidate)
