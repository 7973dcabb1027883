from .selectors import program_settings_get


def program(request):
    """The program's name, currency and point value for every template (cached, no query per request)."""
    return {"program": program_settings_get()}
