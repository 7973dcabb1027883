from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination


class StrictCursorPagination(CursorPagination):
    """Cursor pagination whose ``page_size`` is a whole number of at least 1, given once, or a 400: DRF's own
    falls back to the default for anything else (``page_size=null``, ``page_size=1&page_size=2``), so a request the
    schema calls invalid would be answered as if it were fine. Above ``max_page_size`` it is capped, as documented.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        text = values[0]
        if len(values) > 1 or not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise ValidationError(
                {self.page_size_query_param: [_("Give page_size once, as a whole number of 1 or more.")]}
            )
        return min(int(text), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = _("Results per page (default %(default)s, at most %(max)s).") % {
                    "default": self.page_size,
                    "max": self.max_page_size,
                }
        return parameters


class NewestFirstCursorPagination(StrictCursorPagination):
    """Keyset pagination on (created_at, id): constant cost however long the history."""

    ordering = ("-created_at", "-id")
