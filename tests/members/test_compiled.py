"""Queries compiled once per connection answer exactly as the ORM does (members.compiled, issue 14)."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.compiled import CompiledQuery
from members.models import Member, PointsAccount
from members.selectors import member_find, member_get
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db


def _by_number():
    return CompiledQuery(
        lambda number: Member.objects.select_related("user", "tier", "account").filter(member_number=number), str
    )


def _fields(member: Member) -> tuple:
    return (
        member.pk,
        member.member_number,
        member.card_number,
        member.enrolled_at,
        member.user.email,
        member.tier_id and member.tier.name,
        member.account.balance,
        member.account.updated_at,
    )


def test_a_member_with_its_joins_is_the_orms_member():
    tier = TierFactory(name="Compiled Gold", rank=40)
    with_tier, without = MemberFactory(), MemberFactory()
    Member.objects.filter(pk=with_tier.pk).update(tier=tier)
    Member.objects.filter(pk=without.pk).update(tier=None)
    query = _by_number()
    for member in (with_tier, without):
        orm = Member.objects.select_related("user", "tier", "account").get(pk=member.pk)
        compiled = query.first(member.member_number)
        assert _fields(compiled) == _fields(orm)
        assert compiled._state.adding is False and compiled._state.db == "default"
    assert query.first(with_tier.member_number).tier.name == "Compiled Gold"
    assert query.first(without.member_number).tier is None


def test_the_second_call_sends_the_same_statement_with_the_new_value():
    first, second = MemberFactory(), MemberFactory()
    query = _by_number()
    with CaptureQueriesContext(connection) as captured:
        assert query.first(first.member_number).pk == first.pk
        assert query.first(second.member_number).pk == second.pk
        assert query.first("M000000000") is None
    statements = [entry["sql"] for entry in captured.captured_queries]
    assert len(statements) == 3
    assert first.member_number in statements[0] and second.member_number in statements[1]


def test_the_selectors_find_members_by_number_and_card():
    member = MemberFactory()
    assert member_get(member_number=member.member_number).pk == member.pk
    assert member_find(identifier=member.member_number.lower()).pk == member.pk
    assert member_find(identifier=member.card_number).pk == member.pk
    assert member_find(identifier=member.user.email.upper()).pk == member.pk  # email stays on the ORM (iexact)
    assert member_get(member_number="M999999999") is None


def test_a_flat_values_query_lists_its_column():
    members = [MemberFactory(), MemberFactory()]
    query = CompiledQuery(
        lambda low: PointsAccount.objects.filter(pk__gte=low).order_by("pk").values_list("pk", flat=True), int
    )
    assert query.list(members[0].pk) == [members[0].pk, members[1].pk]
    assert query.list(members[1].pk + 1) == []


def test_an_argument_used_twice_is_sent_in_both_places():
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(card_number=member.member_number)
    query = CompiledQuery(lambda number: Member.objects.filter(member_number=number, card_number=number), str)
    assert query.first(member.member_number).pk == member.pk
    assert query.first(MemberFactory().member_number) is None  # its card number differs


def test_a_value_computed_from_an_argument_is_refused_rather_than_guessed():
    query = CompiledQuery(lambda number: Member.objects.filter(member_number=number.upper()), str)
    with pytest.raises(ValueError, match="not among the parameters"):
        query.first("m1")


def test_datetimes_and_rows_of_values_are_the_orms():
    member = MemberFactory()
    enrolled = Member.objects.get(pk=member.pk).enrolled_at
    query = CompiledQuery(
        lambda since, until: (
            Member.objects.filter(enrolled_at__gte=since, enrolled_at__lt=until)
            .order_by("pk")
            .values_list("pk", "enrolled_at")
        ),
        datetime,
        datetime,
    )
    assert (member.pk, enrolled) in query.list(enrolled - timedelta(seconds=1), enrolled + timedelta(seconds=1))
    assert query.list(enrolled + timedelta(seconds=1), enrolled + timedelta(days=1)) == []


def test_each_shape_is_compiled_on_its_own():
    member = MemberFactory()
    query = CompiledQuery(
        lambda columns, member_id: Member.objects.filter(pk=member_id).values_list(*columns), int, shaped=True
    )
    assert query.list(member.pk, shape=("member_number",)) == [(member.member_number,)]
    assert query.list(member.pk, shape=("pk", "card_number")) == [(member.pk, member.card_number)]


def test_shapes_that_come_and_go_never_grow_the_compiled_statements_past_their_bound():
    from members import compiled as module

    member = MemberFactory()
    query = CompiledQuery(
        lambda ids, member_id: Member.objects.filter(pk=member_id, pk__in=list(ids)), int, shaped=True
    )
    for extra in range(module._MAX_SHAPES + 10):
        assert query.first(member.pk, shape=(member.pk, -extra)).pk == member.pk
    assert len(query._local.compiled) <= module._MAX_SHAPES
