"""One CSV writer with one escaping rule (``members.csvio``) serves every CSV download of the project."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from members.csvio import csv_response, csv_rows, csv_safe

ROOT = Path(__file__).resolve().parents[2]
APPS = ("loyalty_site", "integrations", "members", "rewards", "campaigns", "referrals", "backoffice")
#: What writing a CSV by hand looks like: a writer of the csv module, or a response declared as CSV.
WRITING_CSV = re.compile(r"csv\.(writer|DictWriter)\(|\.writerows?\(|text/csv")


@pytest.mark.parametrize("text", ["=1+1", '=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_text_that_would_start_a_formula_gets_an_apostrophe(text):
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["Dana", "", " =not at the start", "a=b", 0, -40, Decimal("-2.50")])
def test_other_values_pass_unchanged(value):
    assert csv_safe(value) == value


def test_none_is_an_empty_cell_and_every_cell_is_escaped():
    lines = list(csv_rows(["name", "=header"], [["=cmd", None, -3], ["ok", 'say "hi"', 1]]))
    assert lines == ["name,'=header\r\n", "'=cmd,,-3\r\n", 'ok,"say ""hi""",1\r\n']


def test_csv_response_streams_a_named_utf8_download():
    response = csv_response("x.csv", ["a", "b"], iter([["é", "@x"]]))
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    body = b"".join(response.streaming_content).decode("utf-8")
    assert list(csv.reader(io.StringIO(body, newline=""))) == [["a", "b"], ["é", "'@x"]]


def test_no_other_module_writes_csv():
    """Every CSV export (staff exports, liability, import errors, shipping list …) goes through members.csvio."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if path != ROOT / "members" / "csvio.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if WRITING_CSV.search(line)
    ]
    assert offenders == []
