"""The program's configuration is cached per process and confirmed against one shared version per request (#14).

A second process sharing the cache is played by putting this process's stale values back after a change made
"elsewhere": the change drew a new version, so the stale copy must not answer from the next request on.
"""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import cache as config
from members.models import ProgramSettings
from members.selectors import program_settings_get, tiers_list
from tests.factories import TierFactory

pytestmark = pytest.mark.django_db


def _point_value_set_elsewhere(value: str) -> None:
    stale = dict(config._values)
    program = ProgramSettings.objects.get(pk=1)
    program.point_value = Decimal(value)
    program.save()
    config._values.update(stale)


def _statements(run):
    with CaptureQueriesContext(connection) as captured:
        value = run()
    return value, len(captured)


def test_a_warm_value_costs_no_query():
    program_settings_get()
    program, statements = _statements(program_settings_get)
    assert statements == 0 and program.pk == 1


def test_a_change_elsewhere_is_seen_from_the_next_request_on():
    config.request_began()
    assert program_settings_get().point_value == Decimal("0.01")
    _point_value_set_elsewhere("0.05")
    # The request read the version once; it finishes with what it started with.
    config.request_began()  # the next request
    assert program_settings_get().point_value == Decimal("0.05")
    config.request_ended()


def test_outside_a_request_every_read_confirms_the_version():
    assert program_settings_get().point_value == Decimal("0.01")
    _point_value_set_elsewhere("0.07")
    assert program_settings_get().point_value == Decimal("0.07")


def test_within_a_request_the_version_is_read_once(monkeypatch):
    config.config_version()  # the token exists (a missing one is drawn: a read, an add and a read)
    reads = []
    real_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *args, **kwargs: reads.append(key) or real_get(key, *args, **kwargs))
    config.request_began()
    program_settings_get(), tiers_list(), program_settings_get()
    config.request_ended()
    assert reads == [config.CONFIG_VERSION_KEY]


def test_a_change_in_this_process_is_seen_at_once_even_inside_a_request():
    config.request_began()
    tiers_list()
    TierFactory(name="Test Diamond", rank=50)
    assert "Test Diamond" in [tier.name for tier in tiers_list()]
    config.request_ended()


def test_a_lost_version_token_makes_every_process_read_again():
    program_settings_get()
    stale = dict(config._values)
    ProgramSettings.objects.filter(pk=1).update(point_value=Decimal("0.03"))  # no save(): nothing drew a version
    config._values.update(stale)
    assert program_settings_get().point_value == Decimal("0.01")  # cached, as it should be
    cache.delete(config.CONFIG_VERSION_KEY)  # evicted, or Redis flushed
    assert program_settings_get().point_value == Decimal("0.03")


def test_the_version_is_drawn_again_when_the_change_commits(django_capture_on_commit_callbacks):
    """A process that read the new version before the commit may have loaded the old rows under it."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        program = ProgramSettings.objects.get(pk=1)
        program.point_value = Decimal("0.02")
        program.save()
        drawn = cache.get(config.CONFIG_VERSION_KEY)
    assert config._version_draw in callbacks
    assert cache.get(config.CONFIG_VERSION_KEY) != drawn


def test_loading_the_settings_row_for_the_first_time_keeps_what_else_was_cached():
    ProgramSettings.objects.all().delete()
    tiers = tiers_list()
    program_settings_get()  # get_or_create: creates the row with its defaults
    assert tiers_list() is tiers
