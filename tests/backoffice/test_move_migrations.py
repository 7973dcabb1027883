"""Upgrading a database from before the staff console and the API platform left the members app.

The models moved by migration state only; their content types are renamed in place, so a group that held a
permission on ``members.apikey`` or ``members.importjob`` still holds it, now as ``integrations.apikey`` and
``backoffice.importjob``, and no row of the moved tables is copied or lost.
"""

from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVE = [("members", "0026_analytics_rollups")]
MOVED_MODELS = [
    "apikey",
    "idempotencyrecord",
    "webhookendpoint",
    "webhookdelivery",
    "staffsettings",
    "staffauditlog",
    "adjustmentrequest",
    "importjob",
    "dailypoints",
    "dailyactivity",
    "dailytiermovement",
    "rollupstate",
]


@pytest.mark.django_db(transaction=True)
def test_groups_keep_their_permissions_and_rows_stay_across_the_move():
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE_THE_MOVE)
    try:
        old_key_type = ContentType.objects.get(app_label="members", model="apikey")
        old_job_type = ContentType.objects.get(app_label="members", model="importjob")
        # Models added to those apps after the move keep their own content types; the moved ones are members'.
        moved = [
            *import_module("backoffice.migrations.0001_initial").MOVED_MODELS,
            *import_module("integrations.migrations.0001_initial").MOVED_MODELS,
        ]
        assert not ContentType.objects.filter(app_label__in=["integrations", "backoffice"], model__in=moved).exists()
        group = Group.objects.create(name="Legacy auditors")
        group.permissions.add(
            Permission.objects.get(content_type=old_key_type, codename="view_apikey"),
            Permission.objects.get(content_type=old_job_type, codename="view_importjob"),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO members_apikey (name, prefix, hashed_key, scopes, created_at) "
                "VALUES ('Till', 'abcd1234', 'x', '[]', CURRENT_TIMESTAMP)"
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(leaves)

    key_type = ContentType.objects.get(app_label="integrations", model="apikey")
    assert key_type.pk == old_key_type.pk
    assert ContentType.objects.get(app_label="backoffice", model="importjob").pk == old_job_type.pk
    assert not ContentType.objects.filter(app_label="members", model__in=["apikey", "importjob"]).exists()
    group = Group.objects.get(name="Legacy auditors")
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == {
        ("integrations", "view_apikey"),
        ("backoffice", "view_importjob"),
    }
    from integrations.models import APIKey

    assert list(APIKey.objects.values_list("prefix", flat=True)) == ["abcd1234"]
