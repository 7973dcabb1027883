"""Member pages of the rewards app: thin views over the selectors and services, scoped to request.user."""

import secrets
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from members.exceptions import LoyaltyError
from members.forms import apply_domain_error
from members.models import Member
from members.qr import qr_svg
from members.selectors import partners_public, program_settings_get

from .forms import CatalogueFilterForm, RedeemForm
from .models import Reward, Voucher
from .selectors import (
    member_balance,
    member_redemptions_without_voucher,
    member_vouchers,
    partner_rewards_available,
    reward_categories,
    reward_get_active,
    reward_redeemability,
    rewards_catalogue,
)
from .services import reward_redeem, voucher_cancel

PAGE_SIZE = 24


def _member(request) -> Member:
    member = Member.objects.filter(user=request.user, status=Member.Status.ACTIVE).first()
    if member is None:
        raise Http404(_("Only members can use rewards."))
    return member


def _member_or_none(request) -> Member | None:
    """The visitor's active membership, or None for a visitor (or a staff login) browsing the catalogue."""
    if not request.user.is_authenticated:
        return None
    return Member.objects.filter(user=request.user, status=Member.Status.ACTIVE).first()


def _reward(slug: str) -> Reward:
    reward = reward_get_active(slug=slug)
    if reward is None:
        raise Http404(_("No such reward."))
    return reward


def catalogue(request):
    """Open to everyone: members see what they can afford; visitors see the prices and how to join."""
    member = _member_or_none(request)
    form = CatalogueFilterForm(request.GET or None, categories=reward_categories(), member=member is not None)
    filters = form.cleaned_data if form.is_valid() else {}
    balance = member_balance(member=member) if member else 0
    rewards = rewards_catalogue(
        member=member,
        balance=balance,
        category=filters.get("category", ""),
        kind=filters.get("kind", ""),
        affordable_only=filters.get("affordable", False),
        search=filters.get("q", ""),
    )
    page = Paginator(rewards, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "rewards/catalogue.html",
        {
            "form": form,
            "page": page,
            "balance": balance,
            "query": query.urlencode(),
            "member": member,
            "now": timezone.now(),
        },
    )


def detail(request, slug):
    member = _member_or_none(request)
    reward = _reward(slug)
    check = reward_redeemability(member=member, reward=reward) if member else None
    return render(request, "rewards/detail.html", {"reward": reward, "check": check, "member": member})


@login_required
def redeem(request, slug):
    """GET: the confirmation page (cost, balance after). POST: redeem, then go to the member's vouchers."""
    member = _member(request)
    reward = _reward(slug)
    if request.method == "POST":
        form = RedeemForm(request.POST, reward=reward)
        # "Update total" (the page without JavaScript): show the new figures for the chosen quantity, redeem nothing.
        recalculate = "recalculate" in request.POST
        if form.is_valid() and not recalculate:
            try:
                redemption = reward_redeem(
                    member=member,
                    reward=reward,
                    idempotency_key=f"web:{member.pk}:{form.cleaned_data['idempotency_key']}",
                    quantity=form.chosen_quantity,
                    points=form.chosen_points,
                    shipping_address=form.shipping_address(),
                    actor=request.user,
                )
            except LoyaltyError as error:
                apply_domain_error(form, error)
            else:
                if not redemption.replayed:
                    messages.success(request, _("Done! You redeemed %(reward)s.") % {"reward": reward.name})
                return redirect("rewards:vouchers")
        cleaned = getattr(form, "cleaned_data", {})
        check = reward_redeemability(
            member=member,
            reward=reward,
            quantity=cleaned.get("quantity") or 1,
            points=cleaned.get("points"),
        )
        if recalculate and form.is_valid():
            # Recalculating is not a failed submit: drop the errors of fields the member has not finished yet.
            form = RedeemForm(initial={**request.POST.dict()}, reward=reward)
    else:
        form = RedeemForm(reward=reward, initial={"idempotency_key": secrets.token_urlsafe(24)})
        check = reward_redeemability(member=member, reward=reward)
    return render(request, "rewards/confirm.html", {"reward": reward, "form": form, "check": check})


@login_required
def vouchers(request):
    member = _member(request)
    now = timezone.now()
    usable, history = member_vouchers(member=member, now=now)
    grace = timedelta(hours=program_settings_get().voucher_cancel_grace_hours)
    for voucher in usable:
        voucher.qr_svg = qr_svg(voucher.code)
        voucher.cancellable_until = voucher.issued_at + grace
        voucher.cancellable = now <= voucher.cancellable_until
    return render(
        request,
        "rewards/vouchers.html",
        {
            "usable": usable,
            "history": history,
            "others": member_redemptions_without_voucher(member=member),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def voucher_cancel_view(request, pk):
    """GET: ask first (what comes back, until when). POST: cancel, then back to the vouchers."""
    member = _member(request)
    voucher = get_object_or_404(Voucher.objects.select_related("reward", "redemption"), pk=pk, member=member)
    if request.method == "GET":
        return render(request, "rewards/voucher_cancel.html", {"voucher": voucher})
    try:
        voucher_cancel(voucher=voucher, actor=request.user, by_member=True)
    except LoyaltyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Voucher %(code)s cancelled; your points are back.") % {"code": voucher.code})
    return redirect("rewards:vouchers")


def partners(request):
    """ "Where to earn and spend": every active coalition partner with its logo, what it gives, its stores and the
    rewards that can be used only there. Open to everyone, like the catalogue. Four queries."""
    shown = partners_public()
    rewards = partner_rewards_available(partner_ids=[partner.pk for partner in shown])
    for partner in shown:
        partner.rewards_here = rewards.get(partner.pk, [])
    return render(request, "rewards/partners.html", {"partners": shown, "program": program_settings_get()})
