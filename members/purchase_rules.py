"""The rules every purchase meets, however it arrives: from a till through the API (``members.api.serializers``),
from a caller of ``purchase_record`` / ``purchase_preview``, or from a staff CSV import (``backoffice.imports``).

Pure functions over plain values. Each returns the refusals it finds as :class:`RuleError` ``(field, message)``,
the field spelt as the API spells it (``occurred_at``, ``total``, ``lines``, ``lines.0.unit_price``), so each
caller reports them its own way: the serializer as 400 field errors, the services as :class:`InvalidPurchase`
(:func:`refuse`), the importer against the CSV row and column of the line. Same input, same refusal, same
message, on every path.

What stays with the callers: parsing (JSON types, CSV text) and the checks that need the database (which
member, an external id already used).

The one distinction between paths: a till may not send a purchase older than :data:`MAX_PURCHASE_AGE`; staff
imports back-fill history (``backfill=True``) and have no age limit.

Discounts (:func:`discounts_errors`) and the total: with ``discounts`` the total must be exactly the lines less
the discounts; without them a total below the lines is what was paid, the difference an unnamed order-level
discount. Tax and shipping, when a till sends them, are lines like any other (their categories may be excluded
from earning), so they are part of the lines' sum and of the total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Protocol

from django.utils.translation import gettext as _

from .exceptions import InvalidPurchase
from .models import MONEY, Purchase, PurchaseDiscount, PurchaseLine

#: How far ahead of the server's clock a till's clock may run.
CLOCK_SKEW = timedelta(minutes=5)
#: Purchases older than this are back-filled by staff imports, not sent by tills.
MAX_PURCHASE_AGE = timedelta(days=366 * 5)
MAX_LINES = 500
MAX_QUANTITY = 1_000_000
MAX_SKU_LENGTH = PurchaseLine._meta.get_field("sku").max_length
MAX_CATEGORY_LENGTH = PurchaseLine._meta.get_field("category").max_length
#: The largest amount a money column holds (unit prices, totals, a basket's sum).
MAX_AMOUNT = Decimal(10) ** (MONEY["max_digits"] - MONEY["decimal_places"]) - Decimal("0.01")
CENT = Decimal("0.01")
MAX_DISCOUNTS = 50
MAX_DISCOUNT_CODE_LENGTH = PurchaseDiscount._meta.get_field("code").max_length


class RuleError(NamedTuple):
    field: str
    message: str


class PurchaseDiscountValues(Protocol):
    """What the discount rules read; ``members.services.purchases.PurchaseDiscountInput`` is one."""

    code: str
    amount: Decimal
    kind: str
    line_number: int | None


class PurchaseLineValues(Protocol):
    """What the line rules read; ``members.services.purchases.PurchaseLineInput`` is one."""

    sku: str
    quantity: int
    unit_price: Decimal
    category: str


#: Longest external id (the column's length).
MAX_EXTERNAL_ID_LENGTH = Purchase._meta.get_field("external_id").max_length


def external_id_errors(external_id: str) -> list[RuleError]:
    """An external id is a segment of the refund URL (``/api/v1/purchases/{external_id}/refunds/``): one with a
    "/" could be recorded but never refunded, so it is refused. Every other character works there, percent-encoded.
    """
    if "/" in (external_id or ""):
        return [RuleError("external_id", _('An external id cannot contain "/": it is part of the refund URL.'))]
    return []


def occurred_at_errors(occurred_at: datetime, *, now: datetime, backfill: bool = False) -> list[RuleError]:
    if occurred_at > now + CLOCK_SKEW:
        return [RuleError("occurred_at", _("The purchase date is in the future."))]
    if not backfill and occurred_at < now - MAX_PURCHASE_AGE:
        return [RuleError("occurred_at", _("The purchase is too old to be sent through the API."))]
    return []


def _amount_error(value) -> str | None:
    """Which of ``not_amount``, ``negative``, ``too_large``, ``fraction`` is wrong with a money amount, if any."""
    try:
        value = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return "not_amount"
    if not value.is_finite():
        return "not_amount"
    if value < 0:
        return "negative"
    if value > MAX_AMOUNT:
        return "too_large"
    # Stored amounts have cents; anything finer would make refunds and totals disagree.
    if value != value.quantize(CENT):
        return "fraction"
    return None


def line_errors(index: int, *, sku: str, quantity: int, unit_price, category: str = "") -> list[RuleError]:
    """The refusals for line ``index`` (counting from 0, as the API's field names do)."""
    prefix = f"lines.{index}"
    errors = []
    sku = (sku or "").strip()
    if not sku:
        errors.append(RuleError(f"{prefix}.sku", _("Every line needs a SKU.")))
    elif len(sku) > MAX_SKU_LENGTH:
        message = _("A SKU can have at most %(max)s characters.") % {"max": MAX_SKU_LENGTH}
        errors.append(RuleError(f"{prefix}.sku", message))
    if len(category or "") > MAX_CATEGORY_LENGTH:
        message = _("A category can have at most %(max)s characters.") % {"max": MAX_CATEGORY_LENGTH}
        errors.append(RuleError(f"{prefix}.category", message))
    if quantity < 1:
        errors.append(RuleError(f"{prefix}.quantity", _("Quantities must be at least 1.")))
    elif quantity > MAX_QUANTITY:
        message = _("Quantities can be at most %(max)s.") % {"max": MAX_QUANTITY}
        errors.append(RuleError(f"{prefix}.quantity", message))
    problem = _amount_error(unit_price)
    if problem is not None:
        message = {
            "not_amount": _("The unit price must be an amount like 12.50."),
            "negative": _("Unit prices cannot be negative."),
            "too_large": _("The unit price is too large."),
            "fraction": _("Unit prices can have at most two decimals."),
        }[problem]
        errors.append(RuleError(f"{prefix}.unit_price", message))
    return errors


def lines_errors(lines: Sequence[PurchaseLineValues]) -> list[RuleError]:
    """At least one line and at most :data:`MAX_LINES`, each line valid, and a basket total that fits."""
    if not lines:
        return [RuleError("lines", _("A purchase needs at least one line."))]
    if len(lines) > MAX_LINES:
        return [RuleError("lines", _("A purchase can have at most %(max)s lines.") % {"max": MAX_LINES})]
    errors = []
    for index, line in enumerate(lines):
        errors += line_errors(
            index, sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, category=line.category
        )
    if not errors and sum((Decimal(line.unit_price) * line.quantity for line in lines), Decimal(0)) > MAX_AMOUNT:
        errors.append(RuleError("lines", _("The basket's total is too large.")))
    return errors


def _line_sum(lines: Sequence[PurchaseLineValues]) -> Decimal:
    return sum((Decimal(line.unit_price) * line.quantity for line in lines), Decimal(0))


def amount_limit_errors(
    lines: Sequence[PurchaseLineValues], *, max_line_amount=None, max_purchase_amount=None
) -> list[RuleError]:
    """The program's limits against mistyped prices (``ProgramSettings.max_line_amount`` / ``max_purchase_amount``;
    None for no limit): a line, or all lines together, coming to more is refused. Checked on valid lines only."""
    if lines_errors(lines):
        return []
    errors = []
    if max_line_amount is not None:
        for index, line in enumerate(lines):
            amount = Decimal(line.unit_price) * line.quantity
            if amount > max_line_amount:
                message = _("This line comes to %(amount)s, more than the program accepts for one line (%(max)s).") % {
                    "amount": f"{amount:.2f}",
                    "max": f"{max_line_amount:.2f}",
                }
                errors.append(RuleError(f"lines.{index}.unit_price", message))
    if max_purchase_amount is not None and not errors:
        line_sum = _line_sum(lines)
        if line_sum > max_purchase_amount:
            message = _("The lines come to %(amount)s, more than the program accepts for one purchase (%(max)s).") % {
                "amount": f"{line_sum:.2f}",
                "max": f"{max_purchase_amount:.2f}",
            }
            errors.append(RuleError("lines", message))
    return errors


def discounts_errors(
    discounts: Sequence[PurchaseDiscountValues], *, lines: Sequence[PurchaseLineValues]
) -> list[RuleError]:
    """Each discount (``discounts.0.amount``, …) is ``order`` or ``line``, an amount above zero in cents, with a code
    of at most :data:`MAX_DISCOUNT_CODE_LENGTH` characters; a line discount names an existing ``line_number``
    (counting from 1, as the answer's lines do), an order discount none. No line is discounted below zero, and the
    discounts together never come to more than the lines."""
    if len(discounts) > MAX_DISCOUNTS:
        return [RuleError("discounts", _("A purchase can have at most %(max)s discounts.") % {"max": MAX_DISCOUNTS})]
    errors = []
    for index, discount in enumerate(discounts):
        prefix = f"discounts.{index}"
        if discount.kind not in PurchaseDiscount.Kind.values:
            errors.append(RuleError(f"{prefix}.kind", _('A discount\'s kind is "order" or "line".')))
        if len(discount.code or "") > MAX_DISCOUNT_CODE_LENGTH:
            message = _("A discount code can have at most %(max)s characters.") % {"max": MAX_DISCOUNT_CODE_LENGTH}
            errors.append(RuleError(f"{prefix}.code", message))
        problem = _amount_error(discount.amount)
        if problem is None and Decimal(discount.amount) == 0:
            problem = "zero"
        if problem is not None:
            message = {
                "not_amount": _("The discount must be an amount like 2.50."),
                "negative": _("A discount is a positive amount: send 2.50 for 2.50 off."),
                "zero": _("A discount must be more than 0."),
                "too_large": _("The discount is too large."),
                "fraction": _("Discounts can have at most two decimals."),
            }[problem]
            errors.append(RuleError(f"{prefix}.amount", message))
        if discount.kind == PurchaseDiscount.Kind.LINE:
            if discount.line_number is None:
                errors.append(RuleError(f"{prefix}.line_number", _("A line discount needs the line_number it is on.")))
            elif not 1 <= discount.line_number <= len(lines):
                message = _("The purchase has no line %(line)s (lines count from 1).") % {"line": discount.line_number}
                errors.append(RuleError(f"{prefix}.line_number", message))
        elif discount.kind == PurchaseDiscount.Kind.ORDER and discount.line_number is not None:
            message = _("An order discount is on the whole purchase: leave line_number out.")
            errors.append(RuleError(f"{prefix}.line_number", message))
    if errors or not lines or lines_errors(lines):
        return errors
    on_line: dict[int, Decimal] = {}
    for index, discount in enumerate(discounts):
        if discount.kind != PurchaseDiscount.Kind.LINE:
            continue
        line = lines[discount.line_number - 1]
        on_line[discount.line_number] = on_line.get(discount.line_number, Decimal(0)) + Decimal(discount.amount)
        amount = Decimal(line.unit_price) * line.quantity
        if on_line[discount.line_number] > amount:
            message = _("Line %(line)s's discounts come to more than the line (%(amount)s).") % {
                "line": discount.line_number,
                "amount": f"{amount:.2f}",
            }
            errors.append(RuleError(f"discounts.{index}.amount", message))
    line_sum = _line_sum(lines)
    if not errors and discounts_sum(discounts) > line_sum:
        message = _("The discounts come to more than the lines (%(sum)s).") % {"sum": f"{line_sum:.2f}"}
        errors.append(RuleError("discounts", message))
    return errors


def discounts_sum(discounts: Sequence[PurchaseDiscountValues]) -> Decimal:
    return sum((Decimal(discount.amount) for discount in discounts), Decimal(0))


def total_errors(
    total,
    *,
    lines: Sequence[PurchaseLineValues] | None = None,
    discounts: Sequence[PurchaseDiscountValues] | None = None,
) -> list[RuleError]:
    """A given total (it defaults to the lines less the discounts) is an amount of money.

    With ``discounts`` (even an empty list) it must be exactly the lines less the discounts. Without them it may be
    below the lines (the difference is an unnamed discount, see the module docstring) but never above them: that
    would count spend that was never bought (qualifying spend, refunds). ``lines`` and ``discounts`` are compared
    only when they are valid themselves."""
    problem = _amount_error(total)
    if problem is None:
        if lines and not lines_errors(lines):
            line_sum = _line_sum(lines)
            if discounts is not None:
                if discounts_errors(discounts, lines=lines):
                    return []
                expected = line_sum - discounts_sum(discounts)
                if Decimal(total) != expected:
                    message = _(
                        "The total must be the lines (%(lines)s) less the discounts (%(discounts)s): %(expected)s."
                    ) % {
                        "lines": f"{line_sum:.2f}",
                        "discounts": f"{discounts_sum(discounts):.2f}",
                        "expected": f"{expected:.2f}",
                    }
                    return [RuleError("total", message)]
            elif Decimal(total) > line_sum:
                message = _("The total cannot be more than the lines add up to (%(sum)s).") % {"sum": f"{line_sum:.2f}"}
                return [RuleError("total", message)]
        return []
    message = {
        "not_amount": _("The total must be an amount like 12.50."),
        "negative": _("The total cannot be negative."),
        "too_large": _("The total is too large."),
        "fraction": _("The total can have at most two decimals."),
    }[problem]
    return [RuleError("total", message)]


def channel_errors(channel: str) -> list[RuleError]:
    if channel not in Purchase.Channel.values:
        return [RuleError("channel", _("Unknown channel: %(channel)s.") % {"channel": channel})]
    return []


def currency_errors(currency: str, *, program_currency: str) -> list[RuleError]:
    """A business refusal, not an input error: the API answers it with 422 ``invalid_purchase``."""
    if (currency or "").upper() != program_currency:
        message = _("This program earns on %(currency)s purchases only.") % {"currency": program_currency}
        return [RuleError("currency", message)]
    return []


def purchase_errors(
    *,
    lines: Sequence[PurchaseLineValues],
    external_id: str | None = None,
    occurred_at: datetime | None = None,
    now: datetime | None = None,
    backfill: bool = False,
    total=None,
    channel: str | None = None,
    currency: str | None = None,
    program_currency: str | None = None,
    discounts: Sequence[PurchaseDiscountValues] | None = None,
    max_line_amount=None,
    max_purchase_amount=None,
) -> list[RuleError]:
    """Every refusal for a purchase, in field order. Parts given as None are not checked (``occurred_at`` is
    checked when both it and ``now`` are given, ``currency`` when ``program_currency`` is, the program's amount
    limits when given)."""
    errors = []
    if external_id is not None:
        errors += external_id_errors(external_id)
    if occurred_at is not None and now is not None:
        errors += occurred_at_errors(occurred_at, now=now, backfill=backfill)
    if channel is not None:
        errors += channel_errors(channel)
    if currency is not None and program_currency is not None:
        errors += currency_errors(currency, program_currency=program_currency)
    if total is not None:
        errors += total_errors(total, lines=lines, discounts=discounts)
    errors += lines_errors(lines)
    errors += amount_limit_errors(lines, max_line_amount=max_line_amount, max_purchase_amount=max_purchase_amount)
    if discounts is not None:
        errors += discounts_errors(discounts, lines=lines)
    return errors


def refuse(errors: Iterable[RuleError]) -> None:
    """Raise :class:`InvalidPurchase` for the first of ``errors``, if any: how the services report them."""
    for field, message in errors:
        raise InvalidPurchase(message, field=field)


def errors_by_field(errors: Iterable[RuleError]) -> dict[str, list[str]]:
    """``{"lines.0.sku": ["Every line needs a SKU."], …}``: the shape of DRF's field errors."""
    fields: dict[str, list[str]] = {}
    for field, message in errors:
        fields.setdefault(field, []).append(message)
    return fields
