"""Fields the members API's serializers share (kept apart so that serializer modules can import them both ways)."""

import re
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

#: A date, a "T" or space, and a time: the date alone is not a moment.
_DATE_TIME_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")
#: A fee: ASCII digits, at most two decimals, no sign.
_FEE_TEXT = r"[0-9]{1,10}(?:\.[0-9]{1,2})?"


@extend_schema_field({"type": "string", "format": "date-time"})
class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time with its UTC offset. Without one (a naive time, or a date alone) the moment is
    ambiguous: it is refused instead of being read in the program's time zone."""

    default_error_messages = {
        "naive": _("Give the date and time with its UTC offset, e.g. 2026-01-15T10:00:00+01:00."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip()) if _DATE_TIME_TEXT.match(value.strip()) else None
            if parsed is None or timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": f"^{_FEE_TEXT}$"})
class FeeField(serializers.DecimalField):
    """A fee or price paid, as a string of ASCII digits with at most two decimals ("4.99"), as the schema says."""

    default_error_messages = {"invalid": _('Give the amount as digits with at most two decimals, like "4.99".')}

    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, min_value=Decimal("0"), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(_FEE_TEXT, data):
            self.fail("invalid")
        return super().to_internal_value(data)
