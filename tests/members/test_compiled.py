"""Queries compiled once per connection answer exactly as the ORM does (members.compiled, issue 14)."""

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


def test_an_argument_used_twice_is_refused_rather_than_guessed():
    query = CompiledQuery(lambda number: Member.objects.filter(member_number=number, card_number=number), str)
    with pytest.raises(ValueError, match="appears 2 times"):
        query.first("M1")
