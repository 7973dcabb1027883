"""The member site: thin views over the members selectors and services.

Every member page is login-protected and reads only ``request.user``'s own member (``member_view``); nothing
here takes a member id from the URL.
"""

from functools import partial, wraps

from allauth.account.views import SignupView
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import hooks
from .exceptions import FeedbackAlreadyGiven, FeedbackLinkExpired, FeedbackLinkInvalid, LoyaltyError
from .forms import ActivityFilterForm, CloseAccountForm, FeedbackForm, ProfileForm, apply_domain_error
from .models import Member, TierHistory
from .qr import qr_svg
from .selectors import (
    earning_rules_public,
    member_action_occurrences,
    member_activity_page,
    member_export,
    member_for_user,
    member_recent_entries,
    member_summary,
    member_tier_moves,
    member_tier_progress,
    program_terms,
    tiers_list,
    ways_to_earn,
)
from .services import member_close, member_enroll, member_update_profile
from .services.feedback import feedback_answer, feedback_request_from_token, survey_points_offered
from .services.tier_news import tier_news_take
from .subscriptions.selectors import (
    member_plan_now,
    member_savings,
    member_subscription_history,
    plans_active,
    plans_benefits,
    subscription_latest,
)
from .subscriptions.services import subscription_cancel

DASHBOARD_REWARDS = 4
REFERRAL_CODE_MAX_LENGTH = 32


class MemberSignupView(SignupView):
    """allauth's sign-up, with the referral code field prefilled from a share link.

    The referral landing page (``/r/<code>/``) sends visitors here with ``?referral_code=…`` and also keeps the
    code in the session, so it survives a detour (a failed submit, a visit to the terms). The prefill is only a
    suggestion: the member can change or clear it, and the code is checked when the account is created.
    """

    def get_initial(self) -> dict:
        initial = super().get_initial()
        code = self.request.GET.get("referral_code") or self.request.session.get("referral_code") or ""
        code = str(code).strip()[:REFERRAL_CODE_MAX_LENGTH]
        if code:
            initial["referral_code"] = code
        return initial


signup = MemberSignupView.as_view()


def member_view(view=None, *, with_expiring: bool = False):
    """Login required, the user's own active member loaded (one query) and passed in; never cached.
    ``with_expiring``: with the points expiring soon read in the same query (pages that show ``member_summary``)."""
    if view is None:
        return partial(member_view, with_expiring=with_expiring)

    @never_cache
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        member = member_for_user(request.user, with_expiring=with_expiring)
        if member is None:
            if request.user.is_staff or request.user.is_superuser:
                # A staff account is not a customer: it becomes a member only if its owner joins on purpose.
                return redirect("members:staff_join")
            # Sign-up enrols everyone; a customer login made another way (a data import) is enrolled on its
            # first visit, as universal enrolment promises. member_enroll is idempotent.
            member_enroll(user=request.user, channel="web")
            member = member_for_user(request.user)
        if member.status != Member.Status.ACTIVE:
            logout(request)
            messages.info(request, _("This membership is closed."))
            return redirect("home")
        _tier_news_tell(request, member)
        return view(request, member, *args, **kwargs)

    return wrapper


def _tier_news_tell(request, member) -> None:
    """A tier move the member has not seen yet, told once on the page they open (no query without news)."""
    move = tier_news_take(member)
    if move is None:
        return
    names = {"old": getattr(move.from_tier, "name", ""), "new": getattr(move.to_tier, "name", "")}
    if move.reason == TierHistory.Reason.UPGRADE:
        messages.success(request, _("Congratulations: you moved up from %(old)s to %(new)s.") % names)
    else:
        messages.warning(
            request,
            _(
                "At your tier review you moved from %(old)s to %(new)s: your qualifying activity of the past "
                "period was below the %(old)s threshold. See the tiers page for how to move back up."
            )
            % names,
        )


def home(request):
    return render(
        request,
        "home.html",
        {
            "tiers": tiers_list(),
            "featured_rewards": hooks.collect(hooks.featured_rewards, limit=4),
            "earning_rules": earning_rules_public(),
            "ways_to_earn": ways_to_earn(),
        },
    )


def terms(request):
    return render(request, "terms.html", {"terms": program_terms()})


@member_view(with_expiring=True)
def dashboard(request, member):
    return render(
        request,
        "members/dashboard.html",
        {
            "member": member,
            "summary": member_summary(member),
            "progress": member_tier_progress(member),
            "recent_entries": member_recent_entries(member, limit=5),
            "rewards": hooks.collect(hooks.reward_suggestions, member, limit=DASHBOARD_REWARDS),
            "plan": member_plan_now(member),
        },
    )


@member_view
@require_http_methods(["GET", "POST"])
def membership(request, member):
    """Paid membership: the plans side by side, the member's own plan and what it gave back, cancelling at the
    period end (the member may do it themselves; the shop is told by webhook), and the history."""
    subscription = subscription_latest(member_id=member.pk)
    if request.method == "POST":
        if subscription is None or not subscription.is_live:
            messages.info(request, _("You have no subscription to cancel."))
        else:
            try:
                subscription_cancel(subscription=subscription, at_period_end=True, actor="member")
            except LoyaltyError as error:
                messages.error(request, error.message)
            else:
                messages.success(
                    request, _("Your membership is cancelled: its benefits last until the end of this period.")
                )
        return redirect("members:membership")
    now = timezone.now()
    plans = plans_active()
    benefits = plans_benefits(plans)
    live = subscription is not None and subscription.benefits_at(now)
    return render(
        request,
        "members/membership.html",
        {
            "member": member,
            "subscription": subscription,
            "benefits_active": live,
            "plan_rows": [(plan, benefits[plan.pk]) for plan in plans],
            "savings": member_savings(
                member_id=member.pk, period_start=subscription.current_period_start if live else None, now=now
            ),
            "history": member_subscription_history(member_id=member.pk),
        },
    )


@member_view
def earn(request, member):
    return render(
        request,
        "members/earn.html",
        {"member": member, "ways": ways_to_earn(member), "occurrences": member_action_occurrences(member)},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def feedback(request, token: str):
    """The emailed feedback link: works logged out and without JavaScript; a used or old link is told kindly."""
    try:
        feedback_request = feedback_request_from_token(token)
    except FeedbackLinkInvalid:
        return render(request, "members/feedback.html", {"state": "invalid"}, status=404)
    answered = getattr(feedback_request, "response", None) if feedback_request.answered_at else None
    form = FeedbackForm(request.POST or None)
    already = False
    if request.method == "POST" and answered is None and form.is_valid():
        try:
            feedback_answer(token=token, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"])
        except FeedbackAlreadyGiven:
            already = True
        except FeedbackLinkExpired:
            pass
        else:
            return redirect("feedback", token=token)
        feedback_request = feedback_request_from_token(token)
        answered = getattr(feedback_request, "response", None) if feedback_request.answered_at else None
    elif request.method == "POST" and answered is not None:
        already = True
    if answered is not None:
        occurrence = answered.occurrence
        points = occurrence.points if occurrence and occurrence.status == occurrence.Status.CREDITED else 0
        context = {"state": "answered", "response": answered, "points": points, "already": already}
        return render(request, "members/feedback.html", context)
    if feedback_request.answered_at is not None:  # answered by a till or app: the answer is not shown here
        return render(request, "members/feedback.html", {"state": "answered_elsewhere"})
    if timezone.now() >= feedback_request.expires_at:
        return render(request, "members/feedback.html", {"state": "expired"}, status=410)
    status = 400 if request.method == "POST" else 200
    context = {
        "state": "open",
        "form": form,
        "request_row": feedback_request,
        "points_offered": survey_points_offered(),
    }
    return render(request, "members/feedback.html", context, status=status)


@member_view
def activity(request, member):
    form = ActivityFilterForm(request.GET or None)
    page, filters, status = None, {}, 200
    if not form.is_bound or form.is_valid():
        cleaned = form.cleaned_data if form.is_bound else {}
        filters = {
            key: cleaned[key].isoformat() if hasattr(cleaned[key], "isoformat") else cleaned[key]
            for key in ("kind", "date_from", "date_to")
            if cleaned.get(key)
        }
        page = member_activity_page(
            member,
            kinds=[cleaned["kind"]] if cleaned.get("kind") else None,
            date_from=cleaned.get("date_from"),
            date_to=cleaned.get("date_to"),
            before=cleaned.get("before"),
            after=cleaned.get("after"),
        )
    else:
        status = 400
    context = {
        "member": member,
        "form": form,
        "page": page,
        "filtered": bool(filters),
        # The latest tier moves head the first, unfiltered page.
        "tier_moves": member_tier_moves(member) if not form.is_bound and page is not None else [],
    }
    if page is not None:
        if page.older:
            context["older_url"] = "?" + urlencode({**filters, "before": page.older})
        if page.newer:
            context["newer_url"] = "?" + urlencode({**filters, "after": page.newer})
    return render(request, "members/activity.html", context, status=status)


@member_view
def tiers(request, member):
    return render(
        request,
        "members/tiers.html",
        {"member": member, "tiers": tiers_list(), "progress": member_tier_progress(member)},
    )


@member_view
def card(request, member):
    return render(
        request,
        "members/card.html",
        {
            "member": member,
            "qr_svg": qr_svg(member.card_number, title=_("Membership card QR code"), border=4, light="#fff"),
        },
    )


@member_view
@require_http_methods(["GET", "POST"])
def profile(request, member):
    form = ProfileForm(request.POST or None, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            member_update_profile(member=member, **form.service_kwargs())
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            messages.success(request, _("Your profile has been saved."))
            return redirect("members:profile")
    return render(request, "members/profile.html", {"member": member, "form": form})


@member_view
def export(request, member):
    response = JsonResponse(member_export(member), encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="loyalty-data-{member.member_number}.json"'
    return response


@member_view
@require_http_methods(["GET", "POST"])
def close(request, member):
    form = CloseAccountForm(request.POST or None, user=member.user)
    if request.method == "POST" and form.is_valid():
        try:
            member_close(member=member, actor=request.user)
        except LoyaltyError as error:
            apply_domain_error(form, error)
        else:
            logout(request)
            return redirect("members:goodbye")
    return render(request, "members/close.html", {"member": member, "form": form, "summary": member_summary(member)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def staff_join(request):
    """A staff login on the member site: say it is not a membership, and let its owner join as a customer."""
    if member_for_user(request.user) is not None:
        return redirect("members:dashboard")
    if request.method == "POST":
        member_enroll(user=request.user, channel="web", context={"request": request})
        messages.success(request, _("Welcome! Your account is now also a loyalty membership."))
        return redirect("members:dashboard")
    return render(request, "members/staff_join.html")


def goodbye(request):
    return render(request, "members/goodbye.html")
