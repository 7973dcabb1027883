"""The one CSV writer: every CSV download of the project streams through here, with one escaping rule.

It lives in the members core so that every app (rewards, campaigns, referrals, the staff console) can use it
without breaking the layering. Rows are written as they are produced (a database cursor, a generator), never
held in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

#: A text cell starting with one of these is read as a formula by spreadsheet programs (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A cell value that no spreadsheet runs: text that would start a formula gets a leading apostrophe.

    Numbers pass unchanged (a negative number is not a formula), None becomes an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose ``write`` returns the line, so ``csv.writer`` can feed a streaming response."""

    def write(self, value):
        return value


def csv_rows(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """The header and then each row as one CSV-formatted line (``\\r\\n`` ended), every cell through
    :func:`csv_safe`."""
    writer = csv.writer(_Echo())
    yield writer.writerow([csv_safe(value) for value in header])
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A streamed CSV download (UTF-8) named ``filename``, of ``header`` and ``rows``."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
