"""OpenAPI post-processing: the schema says of every input string what the serializers accept of it.

DRF's ``CharField`` trims surrounding whitespace and refuses NUL characters (PostgreSQL cannot store them), and a
required one refuses what is blank once trimmed. drf-spectacular emits only the lengths, so a client or a fuzzer
reading the schema would think ``"   "`` or ``"a\\x00b"`` acceptable. This hook gives each such string a pattern
saying so: no NUL, and for a string that may not be blank, at least one character that is not whitespace. Strings
that already carry a pattern, an enum or a format of their own (dates, decimals) are left as they are.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
_OWN_FORMATS = {"date", "date-time", "decimal", "uuid", "binary", "byte"}
#: The addresses Django's ``EmailValidator`` accepts (ASCII forms): a dot-atom local part, then a domain whose last
#: label is two or more letters. JSON Schema's ``email`` format alone is looser ("a@b.c").
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z][A-Za-z-]{{0,61}}[A-Za-z]$"


def _constrain(schema: dict) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string":
        if schema.get("format") == "email" and "pattern" not in schema:
            # The pattern replaces the format, whose validators judge some addresses Django accepts invalid (and
            # the other way round): one definition, the one the API applies.
            del schema["format"]
            schema["pattern"] = EMAIL
            schema.setdefault("description", "An email address.")
            return
        if "pattern" not in schema and "enum" not in schema and schema.get("format") not in _OWN_FORMATS:
            schema["pattern"] = NOT_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL
        return
    for key in ("properties",):
        for child in schema.get(key, {}).values():
            _constrain(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _constrain(schema[key])
    for key in ("allOf", "oneOf", "anyOf"):
        for child in schema.get(key, []):
            _constrain(child)


def constrain_input_strings(result, generator, request, public):
    """A drf-spectacular ``POSTPROCESSING_HOOKS`` entry: request bodies (the ``…Request`` components, split off by
    ``COMPONENT_SPLIT_REQUEST``) and query parameters. Path parameters are not: an id with NUL is simply not
    found (404)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _constrain(component)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    _constrain(parameter.get("schema"))
    return result


class BoundedListSerializer(serializers.ListSerializer):
    """``many=True`` whose ``min_length`` / ``max_length`` the schema states (``minItems`` / ``maxItems``):
    drf-spectacular leaves them out for nested serializers. Use as the child's ``Meta.list_serializer_class``."""


class BoundedListSerializerExtension(OpenApiSerializerFieldExtension):
    target_class = BoundedListSerializer
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._unwrap_list_serializer(self.target, direction)
        if self.target.min_length is not None:
            schema["minItems"] = self.target.min_length
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema
