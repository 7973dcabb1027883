"""CSV imports: members with opening balances, purchase back-fill, partner code pools.

How a job runs (:func:`run_import`, called by the Celery task through ``backoffice.services.staff``):

1. **Validate everything first.** The file is streamed (never loaded whole) and checked row by row, with the
   database checks done once per chunk. Every row's errors are collected. A dry run stops here; so does a real
   run that found any error — nothing is written unless the whole file is clean.
2. **Write in chunks**, one transaction per chunk, which also records the job's progress (``written_rows``), so a
   job whose worker was killed resumes after its last committed chunk when its task is delivered again or staff
   resume it; staff may also cancel it (see :func:`run_import`).

Re-importing a file changes nothing, because every row has a natural key:

- members: the email address; an opening balance is an ``IMPORT`` ledger entry with the key
  ``import:opening:<email>``, so a member gets at most one opening balance whichever file (or re-run) brings it.
- purchases: ``(source, external_id)`` with source ``import:<source name>``, the idempotency key of
  ``purchase_record``.

Nothing here writes the ledger or checks a purchase itself: purchases are checked by ``members.purchase_rules``
(the API's and ``purchase_record``'s rules, same messages; imports back-fill history, so no age limit), and every
write goes through the members bulk writer, ``members.services.imports`` (account locks in ascending id order,
a set-based path for members new to the program).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from backoffice.models import ImportJob
from members.exceptions import LoyaltyError
from members.models import Member, Purchase
from members.purchase_rules import purchase_errors
from members.selectors import program_settings_get
from members.services.imports import ImportedMember, ImportedPurchase, members_import, purchases_import
from members.services.purchases import PurchaseLineInput

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
TRUE_VALUES = {"1", "true", "yes", "y", "t"}
FALSE_VALUES = {"", "0", "false", "no", "n", "f"}


@dataclass
class Unit:
    """What one write handles: a member row, or all the consecutive rows (lines) of one purchase."""

    row: int
    rows: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)


class Importer:
    kind: str = ""
    required_columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()

    def __init__(self, job: ImportJob):
        self.job = job
        self.errors: list[dict] = []

    def error(self, row: int, column: str, message) -> None:
        self.errors.append({"row": row, "field": column, "message": str(message)})

    def check_header(self, header: list[str]) -> bool:
        missing = [name for name in self.required_columns if name not in header]
        for name in missing:
            self.error(1, name, _("Missing column “%(name)s”.") % {"name": name})
        return not missing

    def units(self, rows: Iterator[tuple[int, dict]]) -> Iterator[Unit]:
        for number, raw in rows:
            yield Unit(row=number, rows=[raw])

    def parse(self, unit: Unit) -> bool:
        """Check one unit without the database; fill ``unit.data``. Return False if it has errors."""
        raise NotImplementedError

    def validate_chunk(self, units: list[Unit]) -> None:
        """Database checks for a chunk of parsed units (a fixed number of queries)."""

    def write_chunk(self, units: list[Unit]) -> tuple[int, int]:
        """Write a chunk inside the caller's transaction; return (created, skipped)."""
        raise NotImplementedError


def _text(raw: dict, name: str) -> str:
    return (raw.get(name) or "").strip()


class MemberImporter(Importer):
    kind = ImportJob.Kind.MEMBERS
    required_columns = ("email",)
    optional_columns = ("first_name", "last_name", "phone", "birthday", "marketing_consent", "opening_balance")

    def __init__(self, job):
        super().__init__(job)
        self.seen: set[str] = set()

    def parse(self, unit):
        raw, row, ok = unit.rows[0], unit.row, True
        email = _text(raw, "email").lower()
        try:
            validate_email(email)
        except ValidationError:
            self.error(row, "email", _("“%(value)s” is not a valid email address.") % {"value": email})
            ok = False
        else:
            if email in self.seen:
                self.error(row, "email", _("This email address appears earlier in the file."))
                ok = False
            self.seen.add(email)
        birthday = None
        if _text(raw, "birthday"):
            try:
                birthday = date.fromisoformat(_text(raw, "birthday"))
            except ValueError:
                self.error(row, "birthday", _("Use the date format YYYY-MM-DD."))
                ok = False
        consent_text = _text(raw, "marketing_consent").lower()
        if consent_text not in TRUE_VALUES | FALSE_VALUES:
            self.error(row, "marketing_consent", _("Use yes or no."))
            ok = False
        opening = 0
        if _text(raw, "opening_balance"):
            try:
                opening = int(_text(raw, "opening_balance"))
            except ValueError:
                self.error(row, "opening_balance", _("The opening balance must be a whole number of points."))
                ok = False
            else:
                if opening < 0:
                    self.error(row, "opening_balance", _("The opening balance cannot be negative."))
                    ok = False
        for name, limit in (("first_name", 150), ("last_name", 150), ("phone", 32)):
            if len(_text(raw, name)) > limit:
                self.error(row, name, _("At most %(limit)s characters.") % {"limit": limit})
                ok = False
        unit.data = {
            "email": email,
            "first_name": _text(raw, "first_name"),
            "last_name": _text(raw, "last_name"),
            "phone": _text(raw, "phone"),
            "birthday": birthday,
            "marketing_consent": consent_text in TRUE_VALUES,
            "opening_balance": opening,
        }
        return ok

    def validate_chunk(self, units):
        emails = [unit.data["email"] for unit in units]
        closed = set(
            Member.objects.filter(user__email__in=emails, status=Member.Status.CLOSED).values_list(
                "user__email", flat=True
            )
        )
        for unit in units:
            if unit.data["email"] in closed:
                self.error(unit.row, "email", _("This member's membership is closed."))

    def write_chunk(self, units):
        return members_import(
            members=[ImportedMember(**unit.data) for unit in units],
            description=_("Opening balance (import #%(id)s)") % {"id": self.job.pk},
            actor=self.job.created_by,
        )


class PurchaseImporter(Importer):
    """One row per purchase line; the rows of one purchase (same ``external_id``) must be consecutive."""

    kind = ImportJob.Kind.PURCHASES
    required_columns = ("external_id", "member", "occurred_at", "sku", "quantity", "unit_price")
    optional_columns = ("category", "channel", "store", "currency", "total")

    def __init__(self, job):
        super().__init__(job)
        self.seen_ids: set[str] = set()
        self.program = program_settings_get()
        self.source = f"import:{job.source_name}"

    def units(self, rows):
        unit = None
        for number, raw in rows:
            external_id = _text(raw, "external_id")
            if unit is not None and external_id and external_id == unit.data.get("external_id"):
                unit.rows.append((number, raw))
                continue
            if unit is not None:
                yield unit
            unit = Unit(row=number, rows=[(number, raw)], data={"external_id": external_id})
        if unit is not None:
            yield unit

    def parse(self, unit):
        errors_before = len(self.errors)
        first_number, first = unit.rows[0]
        external_id = unit.data["external_id"]
        if not external_id:
            self.error(first_number, "external_id", _("An external id is required."))
        elif external_id in self.seen_ids:
            self.error(first_number, "external_id", _("The rows of one purchase must be consecutive."))
        self.seen_ids.add(external_id)
        member_ref = _text(first, "member")
        occurred_text = _text(first, "occurred_at")
        occurred_at = parse_datetime(occurred_text) if occurred_text else None
        if occurred_at is None:
            try:
                occurred_at = datetime.combine(date.fromisoformat(occurred_text), datetime.min.time())
            except ValueError:
                occurred_at = None
        if occurred_at is None:
            self.error(first_number, "occurred_at", _("Use an ISO date and time, e.g. 2024-05-31T14:30:00+02:00."))
        elif timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at)
        if not member_ref:
            self.error(first_number, "member", _("A member number, card number or email is required."))
        lines = []
        for number, raw in unit.rows:
            if _text(raw, "member") != member_ref or _text(raw, "occurred_at") != occurred_text:
                self.error(number, "member", _("All lines of a purchase need the same member and date."))
            try:
                quantity = int(_text(raw, "quantity"))
            except ValueError:
                self.error(number, "quantity", _("The quantity must be a whole number of at least 1."))
                quantity = 1
            try:
                unit_price = Decimal(_text(raw, "unit_price"))
            except InvalidOperation:
                unit_price = Decimal("NaN")  # not an amount: the rules say so, in their words
            lines.append(
                PurchaseLineInput(
                    sku=_text(raw, "sku"), quantity=quantity, unit_price=unit_price, category=_text(raw, "category")
                )
            )
        channel = _text(first, "channel") or Purchase.Channel.IN_STORE
        currency = (_text(first, "currency") or self.program.currency).upper()
        refusals = purchase_errors(
            lines=lines,
            external_id=external_id,
            occurred_at=occurred_at,
            now=timezone.now(),
            backfill=True,
            channel=channel,
            currency=currency,
            program_currency=self.program.currency,
            max_line_amount=self.program.max_line_amount,
            max_purchase_amount=self.program.max_purchase_amount,
        )
        for field_name, message in refusals:
            self.error(*self._cell(unit, field_name), message)
        unit.data.update(
            member_ref=member_ref,
            occurred_at=occurred_at,
            channel=channel,
            currency=currency,
            store=_text(first, "store"),
            lines=lines,
        )
        return len(self.errors) == errors_before

    @staticmethod
    def _cell(unit: Unit, field_name: str) -> tuple[int, str]:
        """The CSV row and column of a rule's field: ``lines.2.sku`` is the third row's sku; a refusal of the
        purchase's lines as a whole (``lines``) is reported on its first row's external_id."""
        parts = field_name.split(".")
        if parts[0] != "lines":
            return unit.row, field_name
        if len(parts) == 3:
            return unit.rows[int(parts[1])][0], parts[2]
        return unit.row, "external_id"

    def _members(self, units) -> dict[str, Member]:
        refs = {unit.data["member_ref"] for unit in units}
        lowered = {ref.lower() for ref in refs}
        found = {}
        for member in Member.objects.filter(
            Q(member_number__in=refs) | Q(card_number__in=refs) | Q(user__email__in=lowered)
        ).select_related("user"):
            for key in (member.member_number, member.card_number, member.user.email):
                found[key] = member
        return {ref: found.get(ref) or found.get(ref.lower()) for ref in refs}

    def validate_chunk(self, units):
        members = self._members(units)
        recorded = dict(
            Purchase.objects.filter(
                source=self.source, external_id__in=[unit.data["external_id"] for unit in units]
            ).values_list("external_id", "member_id")
        )
        for unit in units:
            member = members.get(unit.data["member_ref"])
            if member is None:
                self.error(unit.row, "member", _("No member with this number, card or email."))
            elif member.status != Member.Status.ACTIVE:
                self.error(unit.row, "member", _("This member's membership is closed."))
            elif unit.data["external_id"] in recorded and recorded[unit.data["external_id"]] != member.pk:
                self.error(unit.row, "external_id", _("This purchase id was already recorded for another member."))

    def write_chunk(self, units):
        members = self._members(units)
        purchases = [
            ImportedPurchase(
                member=members[unit.data["member_ref"]],
                external_id=unit.data["external_id"],
                lines=unit.data["lines"],
                channel=unit.data["channel"],
                occurred_at=unit.data["occurred_at"],
                currency=unit.data["currency"],
                store=unit.data["store"],
            )
            for unit in units
        ]
        return purchases_import(purchases=purchases, source=self.source, actor=self.job.created_by)


class CodePoolImporter(Importer):
    """Partner codes for a reward (by slug), added through ``rewards.services.partner_codes_add``.

    A code repeated in the file is an error; a code already in the reward's pool is skipped, so re-importing a
    file adds nothing.
    """

    kind = ImportJob.Kind.CODES
    required_columns = ("reward", "code")

    def __init__(self, job):
        super().__init__(job)
        self.seen: set[tuple[str, str]] = set()

    def parse(self, unit):
        from rewards.services import PARTNER_CODE_MAX_LENGTH

        raw, row, ok = unit.rows[0], unit.row, True
        unit.data = {"reward": _text(raw, "reward"), "code": _text(raw, "code")}
        if not unit.data["reward"]:
            self.error(row, "reward", _("The reward's slug is required."))
            ok = False
        if not unit.data["code"]:
            self.error(row, "code", _("The code is required."))
            ok = False
        elif len(unit.data["code"]) > PARTNER_CODE_MAX_LENGTH:
            self.error(row, "code", _("At most %(limit)s characters.") % {"limit": PARTNER_CODE_MAX_LENGTH})
            ok = False
        elif ok:
            key = (unit.data["reward"], unit.data["code"])
            if key in self.seen:
                self.error(row, "code", _("This code appears earlier in the file for the same reward."))
                ok = False
            self.seen.add(key)
        return ok

    def _rewards(self, units) -> dict:
        from rewards.models import Reward

        return {
            reward.slug: reward for reward in Reward.objects.filter(slug__in={unit.data["reward"] for unit in units})
        }

    def validate_chunk(self, units):
        from rewards.models import Reward

        rewards = self._rewards(units)
        for unit in units:
            reward = rewards.get(unit.data["reward"])
            if reward is None:
                self.error(unit.row, "reward", _("No reward with this slug."))
            elif reward.kind != Reward.Kind.PARTNER:
                self.error(unit.row, "reward", _("Only partner rewards have code pools."))

    def write_chunk(self, units):
        from rewards.services import partner_codes_add

        rewards = self._rewards(units)
        by_reward: dict[str, list[str]] = {}
        for unit in units:
            by_reward.setdefault(unit.data["reward"], []).append(unit.data["code"])
        created = skipped = 0
        for slug, codes in by_reward.items():
            added = partner_codes_add(reward=rewards[slug], codes=codes)
            created += added
            skipped += len(codes) - added
        return created, skipped


IMPORTERS = {
    ImportJob.Kind.MEMBERS: MemberImporter,
    ImportJob.Kind.PURCHASES: PurchaseImporter,
    ImportJob.Kind.CODES: CodePoolImporter,
}


def _rows(job: ImportJob) -> tuple[list[str], Iterator[tuple[int, dict]], object]:
    handle = job.file.storage.open(job.file.name, "rb")
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header

    def rows():
        for raw in reader:
            yield reader.line_num, raw

    return header, rows(), text


def _chunks(units: Iterator[Unit]) -> Iterator[list[Unit]]:
    chunk, size = [], 0
    for unit in units:
        chunk.append(unit)
        size += len(unit.rows)
        if size >= CHUNK_ROWS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _units_after(importer: Importer, rows, written: int) -> Iterator[Unit]:
    """The file's units after its first ``written`` rows (those a killed run committed): a resumed job's work."""
    position = 0
    for unit in importer.units(rows):
        position += len(unit.rows)
        if position > written:
            yield unit


class _Stop(Exception):
    """The job was cancelled, or another runner took it over: this runner stops, writing nothing more."""


def _progress(job: ImportJob, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**fields)


def _beat(job: ImportJob, **fields) -> None:
    """Progress and a sign of life, unless the job left ``job.status`` meanwhile (cancelled by staff)."""
    fields["heartbeat_at"] = timezone.now()
    if not ImportJob.objects.filter(pk=job.pk, status=job.status).update(**fields):
        raise _Stop()
    for name, value in fields.items():
        setattr(job, name, value)


def _claim(job_id: int) -> tuple[ImportJob, str] | None:
    """Take the job for this runner: a queued one, or one whose runner died (``ImportJob.is_stuck``). Returns it with
    the phase to start from, or None when it is done, cancelled, or another runner is alive (a duplicate message)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).select_related("created_by").filter(pk=job_id).first()
        if job is None:
            return None
        if job.status == ImportJob.Status.QUEUED:
            phase = ImportJob.Status.VALIDATING
        elif job.status in {ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING} and job.is_stuck():
            phase = job.status  # a redelivered or resumed task: validate again, or write on from the last chunk
        else:
            return None
        now = timezone.now()
        fields = {"status": phase, "heartbeat_at": now, "started_at": job.started_at or now}
        _progress(job, **fields)
    return job, phase


def run_import(*, job_id: int) -> ImportJob:
    """Run an import job: validate every row, then write in chunks. Safe to run again at any time.

    A job whose runner died (``kill -9`` of its worker) resumes when its task is delivered again or staff resume
    it: validation starts over (it writes nothing), writing continues after the last committed chunk
    (``written_rows``, committed with the chunk). Each chunk's transaction first locks the job's row and checks
    that it is still this runner's to write, so two runners (a redelivery while the first still runs) never both
    write a chunk, and a cancelled job stops after the chunk in progress.
    """
    claimed = _claim(job_id)
    if claimed is None:
        return ImportJob.objects.get(pk=job_id)  # done, cancelled, or in another runner's hands
    job, phase = claimed
    importer = IMPORTERS[job.kind](job)
    try:
        if phase == ImportJob.Status.VALIDATING:
            importer = _validate(job, importer)
            if importer is None:
                return job
        _write(job, importer)
    except _Stop:
        job.refresh_from_db()
    except LoyaltyError as error:
        _fail(job, error.message)
    except Exception as error:
        logger.exception("Import job %s failed", job.pk)
        _fail(job, str(error)[:1000])
    return job


def _fail(job: ImportJob, message: str) -> None:
    running = [ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING]
    ImportJob.objects.filter(pk=job.pk, status__in=running).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )
    job.refresh_from_db()


def _validate(job: ImportJob, importer: Importer) -> Importer | None:
    """Pass 1: check every row, writing nothing. Returns a fresh importer for pass 2, or None when the job ends
    here (a dry run, or errors)."""
    header, rows, handle = _rows(job)
    with handle:
        total = 0
        if importer.check_header(header):
            for chunk in _chunks(importer.units(rows)):
                valid = [unit for unit in chunk if importer.parse(unit)]
                if valid:
                    importer.validate_chunk(valid)
                total += sum(len(unit.rows) for unit in chunk)
                _beat(job, total_rows=total, processed_rows=total)
    importer.errors.sort(key=lambda error: error["row"])
    if importer.errors or job.dry_run:
        message = (
            _("Dry run: %(rows)s rows checked, %(errors)s errors. Nothing was written.")
            if job.dry_run
            else _("%(errors)s errors in %(rows)s rows. Nothing was written; fix the file and import again.")
        ) % {"rows": total, "errors": len(importer.errors)}
        _beat(
            job,
            status=ImportJob.Status.DONE if job.dry_run else ImportJob.Status.FAILED,
            errors=importer.errors,
            error_count=len(importer.errors),
            message=message,
            finished_at=timezone.now(),
        )
        return None
    _beat(job, status=ImportJob.Status.RUNNING, processed_rows=job.written_rows)
    return IMPORTERS[job.kind](job)


def _write(job: ImportJob, importer: Importer) -> None:
    """Pass 2: write, one transaction per chunk, from the first row no committed chunk holds."""
    _header, rows, handle = _rows(job)
    with handle:
        for chunk in _chunks(_units_after(importer, rows, job.written_rows)):
            for unit in chunk:
                importer.parse(unit)
            with transaction.atomic():
                current = ImportJob.objects.select_for_update().filter(pk=job.pk).values("status", "written_rows")
                if current.get() != {"status": ImportJob.Status.RUNNING, "written_rows": job.written_rows}:
                    raise _Stop()  # cancelled, or another runner wrote this chunk
                chunk_created, chunk_skipped = importer.write_chunk(chunk)
                written = job.written_rows + sum(len(unit.rows) for unit in chunk)
                _beat(
                    job,
                    written_rows=written,
                    processed_rows=written,
                    created_rows=job.created_rows + chunk_created,
                    skipped_rows=job.skipped_rows + chunk_skipped,
                )
    _beat(
        job,
        status=ImportJob.Status.DONE,
        message=_("%(created)s imported, %(skipped)s already there.")
        % {"created": job.created_rows, "skipped": job.skipped_rows},
        finished_at=timezone.now(),
    )


def error_report_rows(job: ImportJob) -> Iterator[list]:
    yield ["row", "field", "message"]
    for error in job.errors:
        yield [error["row"], error["field"], error["message"]]
