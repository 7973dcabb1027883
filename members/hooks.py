"""Extension points of the members core.

``members`` imports no other app of ours. Apps that build on it (campaigns, referrals, rewards, the API's
webhooks) register callables here from their ``AppConfig.ready()``; the services call them explicitly, inside
their own transaction, in registration order. No model signals are involved.

- ``earning_providers``: ``provider(basket, base, now) -> list[Award]`` — extra awards (campaign bonuses) for a
  basket, given the base earning result. Used by both recording and previewing a purchase, so a provider must
  not write anything.
- ``award_reservers``: ``reserver(*, awards, basket, now) -> list[Award]`` — called by ``purchase_record`` inside
  its transaction, holding the member's account lock, after the awards are calculated and before anything is
  posted. The one place where a provider's awards may be checked against shared limits (campaign budgets,
  per-member caps) under row locks and consumed; it returns the awards to post, possibly reduced (points and
  ``line_points`` shrunk) or left out. Previews never call it.
- ``purchase_co_locks``: ``provider(*, member, occurred_at) -> Iterable[int]`` — ids of other members whose
  accounts the ``purchase_recorded`` hooks may write to for a purchase by ``member`` (a referral pays the referrer
  too). Called before any lock is taken, so ``purchase_record`` can lock them all with the buyer's in ascending id
  order; must not write, and should cost no query when nothing applies (it runs on every purchase).
- ``refund_co_locks``: ``provider(*, purchase) -> Iterable[int]`` — the same for the ``purchase_refunded`` hooks of
  a refund on ``purchase``.
- ``purchase_recorded``: ``hook(result) -> None`` — after a purchase and its points are posted (same
  transaction). ``result`` is a :class:`members.services.purchases.PurchaseResult`.
- ``purchase_settled``: ``hook(result) -> None`` — once every ``purchase_recorded`` hook has run (same
  transaction), with ``result.balance``, ``pending`` and ``entries`` re-read from the stored rows. For announcing
  the purchase (webhooks), never for posting points: nothing that runs after it would be seen.
- ``discount_codes_used``: ``hook(*, purchase, codes, now) -> None`` — inside ``purchase_record``'s transaction,
  after the purchase and its discounts are inserted and before its points are posted: ``codes`` are
  ``(index, code)`` pairs of the purchase's ``discounts`` that carry a code. An app whose codes these may be
  (rewards: its vouchers) marks them used on ``purchase``; a refusal it raises (a voucher already used) refuses
  the purchase, and its field should name the discount (``discounts.0.code``). Codes it does not know are not its
  business (the till's own promotion codes).
- ``purchase_refunded``: ``hook(refund) -> None`` — after a refund's clawback is posted (same transaction).
- ``member_enrolled``: ``hook(member, context) -> None`` — after a member is created; ``context`` is a dict
  with e.g. ``referral_code`` and ``request`` (may be None).
- ``points_changed``: ``hook(event, payload) -> None`` — notifications such as ``points.expired`` and
  ``tier.changed`` for outbound webhooks; events about one partner's business also get ``owner=`` (the partner's
  key owner label), so a hook must accept that keyword. A hook may carry a ``wants(event) -> bool`` attribute,
  so that batch jobs can skip building a payload nobody would read (see :func:`listening`).
- ``member_closed``: ``hook(member, *, former_email) -> None`` — inside ``member_close``'s transaction, after the
  core has anonymised the user and member rows: each app erases the personal data it holds about the member
  (shipping addresses, stored responses, delivery errors, sign-up addresses). The ledger is kept and still sums.
- ``export_providers``: ``provider(member) -> dict`` — what the app holds about a member, merged into the
  member's data export (``members.selectors.member_export``); keys name the app's data, e.g. ``"vouchers"``.
- ``featured_rewards``: ``provider(limit) -> list`` — rewards to show on the public home page.
- ``reward_suggestions``: ``provider(member, limit) -> list`` — rewards a member can afford or is close to, for
  the dashboard; items have ``name``, ``points_cost``, ``points_to_go``, ``affordable``, ``get_absolute_url()``.
- ``signup_checks``: ``check(cleaned_data) -> dict[str, str]`` — problems with what a visitor typed into the
  sign-up form (e.g. a referral code nobody has), by field name, so the form shows them beside the field and the
  visitor can correct them before the account exists. Must not write.
- ``rule_changed``: ``hook(*, actor, obj, before, after, action) -> None`` — a program rule (settings, tier,
  earning rule, reward, referral program, segment, campaign, ...) was created, changed or deleted (``action`` is
  ``"created"``, ``"changed"`` or ``"deleted"``; ``before``/``after`` are snapshots, None for a side that does not
  exist). Called by the owning app's service inside its transaction, through :mod:`members.audit`; the staff
  console registers the writer of the audit row.
- ``account_action_recorded``: ``hook(*, actor, action, obj, member, before, after, reason, object_repr) -> None``
  — a correction or closure of a member's account (``members.audit.ACCOUNT_ACTIONS``), same transaction, same
  writer.
- ``subscription_changed``: ``hook(*, subscription, event, now) -> None`` — a paid-membership subscription
  started, renewed, went past due, was cancelled or ended (``event`` is the webhook event's name), inside the
  service's transaction, with the stored row (plan and member loaded).
- ``subscription_period_due``: ``provider(*, subscriptions, now) -> int`` — the daily job's list of
  subscriptions with benefits now; the provider gives each its current period's reward once (idempotent per
  subscription and period start) and returns how many it gave.
- ``plan_benefits``: ``provider(plan_ids) -> dict[int, dict]`` — benefits another app adds to membership plans
  (period rewards, members-only rewards), merged into what the API and the member page state. One query for all.
- ``till_member_annotations``: ``provider() -> dict[str, Expression]`` — annotations the till's member look-up
  (``members.selectors``: by member number, card or login, as purchases, member reads and member pages load the
  member) reads in its own statement, so that an app's question about the member on every purchase needs no
  statement of its own (referrals: the referrer of an open referral, for ``purchase_co_locks``). Names start with
  the app's label; the value lands in the instance's ``__dict__``. Called when the look-up is compiled (once per
  connection, after ``ready()``): the expression must not depend on the request. Members loaded any other way
  lack the attribute, so a provider's reader falls back to its own query.
"""

earning_providers: list = []
award_reservers: list = []
purchase_co_locks: list = []
refund_co_locks: list = []
purchase_recorded: list = []
purchase_settled: list = []
purchase_refunded: list = []
discount_codes_used: list = []
member_enrolled: list = []
points_changed: list = []
member_closed: list = []
export_providers: list = []
featured_rewards: list = []
reward_suggestions: list = []
signup_checks: list = []
rule_changed: list = []
account_action_recorded: list = []
subscription_changed: list = []
subscription_period_due: list = []
plan_benefits: list = []
till_member_annotations: list = []


def register(registry: list, func):
    """Add ``func`` to a registry once (``ready()`` may run more than once in tests)."""
    if func not in registry:
        registry.append(func)
    return func


def collect(registry: list, *args, limit: int) -> list:
    """Items from every provider of a list-returning registry, at most ``limit`` in all."""
    items: list = []
    for provider in registry:
        items.extend(provider(*args, limit=limit))
    return items[:limit]


def listening(event: str) -> bool:
    """Whether any ``points_changed`` hook wants ``event`` (a hook without ``wants`` wants everything)."""
    return any(getattr(hook, "wants", None) is None or hook.wants(event) for hook in points_changed)


def emit(event: str, payload: dict, owner: str = "") -> None:
    """Tell every ``points_changed`` hook. ``owner`` tags an event about one partner's business (the API key
    owner label, ``partner:<id>``), so webhooks reach that partner's endpoints and the operator's only."""
    for hook in points_changed:
        if owner:
            hook(event, payload, owner=owner)
        else:
            hook(event, payload)
