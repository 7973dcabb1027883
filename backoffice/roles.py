"""Staff roles: Django groups with exactly the permissions each job needs.

One function, :func:`roles_setup`, creates or corrects the groups. The data migration ``backoffice
0002_staff_roles`` and the ``setup_roles`` management command both call it, so a deployment gets the same groups
either way. Run ``manage.py setup_roles`` again after other apps add models: their permissions only exist once they are
migrated, and a pattern below that matches nothing yet is simply skipped.

Patterns are ``app_label.codename`` with shell wildcards (``rewards.view_*``); ``a|b`` takes the first
alternative that exists (e.g. a dedicated ``cancel_voucher`` permission, else ``change_voucher``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

SUPPORT = "Support"
MARKETER = "Marketer"
PROGRAM_MANAGER = "Program manager"
AUDITOR = "Auditor"

#: The apps whose permissions roles may draw from.
ROLE_APPS = ("members", "integrations", "rewards", "campaigns", "referrals", "backoffice")

_MEMBER_LOOKUP = [
    "members.view_member",
    "members.view_pointsaccount",
    "members.view_ledgerentry",
    "members.view_pointslot",
    "members.view_purchase",
    "members.view_purchaseline",
    "members.view_refund",
    "members.view_purchasediscount",
    "members.view_pointpayment",
    "members.view_tierhistory",
    "members.view_tier",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Front-line help: find a member, read their history, fix small mistakes, cancel a voucher.
    SUPPORT: [
        *_MEMBER_LOOKUP,
        "backoffice.adjust_points",
        "backoffice.view_adjustmentrequest",
        "members.view_subscription",
        "members.view_subscriptionevent",
        "rewards.view_reward",
        "rewards.view_redemption",
        "rewards.view_voucher",
        "rewards.cancel_voucher|rewards.change_voucher",
        "referrals.view_referral",
    ],
    # Campaigns, segments and reports; sees members and the catalogue but cannot move points.
    MARKETER: [
        "campaigns.*",
        "members.view_member",
        "members.view_tier",
        "members.view_earningrule",
        "backoffice.view_reports",
        "rewards.view_*",
        "referrals.view_*",
    ],
    # Owns the program: its settings, tiers, earning rules, rewards, imports, and approvals over the limit.
    PROGRAM_MANAGER: [
        *_MEMBER_LOOKUP,
        "members.view_programsettings",
        "members.change_programsettings",
        "members.*_tier",
        "members.*_earningrule",
        "members.add_membershipplan",
        "members.change_membershipplan",
        "members.view_membershipplan",
        "members.view_subscription",
        "members.view_subscriptionevent",
        "members.view_subscriptionsaving",
        "members.*_partner",
        "members.*_partnerstore",
        "members.add_partnerrate|members.view_partnerrate",
        "backoffice.close_settlement",
        "backoffice.view_settlementstatement",
        "backoffice.view_staffsettings",
        "backoffice.change_staffsettings",
        "backoffice.adjust_points",
        "backoffice.approve_adjustment",
        "backoffice.view_adjustmentrequest",
        "backoffice.view_reports",
        "backoffice.export_data",
        "backoffice.import_data",
        "backoffice.add_importjob",
        "backoffice.view_importjob",
        "backoffice.view_staffauditlog",
        # Points accounting (IFRS 15): the estimate, and closing and reopening periods (each audited).
        "backoffice.set_redemption_estimate",
        "backoffice.close_accounting_period",
        "backoffice.reopen_accounting_period",
        "backoffice.view_accountingsettings",
        "backoffice.change_accountingsettings",
        "backoffice.view_redemptionrateestimate",
        "backoffice.view_accountingperiod",
        "rewards.*",
        "referrals.*",
        "campaigns.view_*",
    ],
    # Reads everything, changes nothing; may export.
    AUDITOR: [
        "members.view_*",
        "integrations.view_*",
        "rewards.view_*",
        "campaigns.view_*",
        "referrals.view_*",
        "backoffice.view_*",
        "backoffice.view_reports",
        "backoffice.export_data",
    ],
}


def _resolve(patterns: list[str], available: dict[str, object]) -> list[object]:
    chosen: dict[str, object] = {}
    for pattern in patterns:
        for alternative in pattern.split("|"):
            matches = [name for name in available if fnmatchcase(name, alternative)]
            if matches:
                for name in matches:
                    chosen[name] = available[name]
                break
    return [chosen[name] for name in sorted(chosen)]


def roles_setup(*, group_model=None, permission_model=None) -> dict[str, list[str]]:
    """Create the four staff groups and set each one's permissions to exactly its list. Idempotent.

    Takes the models as arguments so the data migration can pass its historical ones. Returns the permission
    names given to each group.
    """
    if group_model is None or permission_model is None:
        from django.contrib.auth.models import Group, Permission

        group_model, permission_model = Group, Permission
    available = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.filter(
            content_type__app_label__in=ROLE_APPS
        ).values_list("pk", "content_type__app_label", "codename")
    }
    names_by_pk = {pk: name for name, pk in available.items()}
    result = {}
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.get_or_create(name=role)
        pks = _resolve(patterns, available)
        group.permissions.set(pks)
        result[role] = sorted(names_by_pk[pk] for pk in pks)
    return result


# Earning actions and feedback (members): Support and the program manager work the review queue; the program
# manager edits the actions; marketers read the answers (the NPS dashboard itself is ``backoffice.view_reports``).
ROLE_PERMISSIONS[SUPPORT] += [
    "members.view_earningaction",
    "members.view_actionoccurrence",
    "members.review_actionoccurrence",
]
ROLE_PERMISSIONS[PROGRAM_MANAGER] += [
    "members.*_earningaction",
    "members.view_actionoccurrence",
    "members.review_actionoccurrence",
    "members.view_feedbackresponse",
]
ROLE_PERMISSIONS[MARKETER] += ["members.view_earningaction", "members.view_feedbackresponse"]
