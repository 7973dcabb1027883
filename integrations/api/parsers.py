"""The API's JSON parser: DRF's, refusing bodies nested deeper than any request of ours needs.

A thousand nested arrays parse, then exhaust the recursion of whatever walks them (validation, the error
renderer) and answered 500. The depth is measured on the raw bytes before parsing, skipping string contents.
"""

from io import BytesIO

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: A purchase is three levels deep (body, lines, line); anything past this is not a request of ours.
MAX_JSON_DEPTH = 32


def json_depth(raw: bytes) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise ParseError(
                _("The JSON body is nested too deeply (at most %(max)s levels).") % {"max": MAX_JSON_DEPTH}
            )
        return super().parse(BytesIO(raw), media_type, parser_context)
