"""Template filters for the member site: points and money, formatted for the active locale."""

from datetime import time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import formats, timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()

CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "CHF": "CHF\u00a0", "SEK": "SEK\u00a0"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "ISK"}


@register.filter
def points(value):
    """1234567 → '1,234,567' (grouped by the locale)."""
    if value is None or value == "":
        return ""
    try:
        return number_format(int(value), decimal_pos=0, use_l10n=True, force_grouping=True)
    except (TypeError, ValueError):
        return value


@register.filter
def money(value, currency="EUR"):
    """Decimal('1234.5') with 'EUR' → '€1,234.50'; unknown codes are written in front ('NOK 12.00')."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
    currency = (currency or "").upper()
    places = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    sign = "-" if amount < 0 else ""
    number = number_format(abs(amount), decimal_pos=places, use_l10n=True, force_grouping=True)
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency}\u00a0" if currency else "")
    return f"{sign}{symbol}{number}"


@register.filter
def signed_points(value):
    """+120 / −45 (a real minus sign), grouped."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return value
    if value > 0:
        return f"+{points(value)}"
    if value < 0:
        return f"\u2212{points(-value)}"
    return "0"


@register.filter
def percent_signed(value):
    """Decimal('0.1234') → '+12.3 %' / Decimal('-0.05') → '−5.0 %' (a ratio shown as a signed percentage)."""
    try:
        ratio = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
    # Rounded here: number_format cuts extra decimals off rather than rounding them (0.81466 would read 81.4).
    tenths = (abs(ratio) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    number = number_format(tenths, decimal_pos=1, use_l10n=True, force_grouping=True)
    sign = "+" if ratio > 0 else "\u2212" if ratio < 0 else ""
    return f"{sign}{number}\u00a0%"


@register.filter
def until(moment):
    """An exclusive end as people read it: 1 Jan 00:00 is "until the end of 31 Dec 2026", not "until midnight"."""
    if not moment:
        return ""
    local = timezone.localtime(moment)
    if local.time() == time(0, 0):
        last_day = (local - timedelta(days=1)).date()
        return _("until the end of %(date)s") % {"date": formats.date_format(last_day, "DATE_FORMAT")}
    return _("until %(moment)s") % {"moment": formats.date_format(local, "DATETIME_FORMAT")}
