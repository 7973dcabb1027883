from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from members.models import Member
from members.qr import qr_svg

from .models import ReferralCode
from .rules import code_normalise
from .selectors import referral_program_get, referral_summary_for_member, referrals_for_member
from .services import referral_code_get_or_create


@login_required
def index(request):
    member = get_object_or_404(Member.objects.select_related("user"), user=request.user)
    code = referral_code_get_or_create(member=member)
    share_url = request.build_absolute_uri(reverse("referrals:landing", args=[code.code]))
    return render(
        request,
        "referrals/index.html",
        {
            "code": code,
            "share_url": share_url,
            "qr_svg": qr_svg(share_url, dark="#0f5e57"),
            "referrals": referrals_for_member(member=member),
            "summary": referral_summary_for_member(member=member),
            "referral_program": referral_program_get(),
        },
    )


def landing(request, code):
    """The share link: remember the code for sign-up (the account adapter reads it) and go to the sign-up page."""
    normalised = code_normalise(code)
    if request.user.is_authenticated:
        messages.info(request, _("You are already a member. Share your own code to earn a bonus."))
        return redirect("referrals:index")
    valid = ReferralCode.objects.filter(code=normalised, member__status=Member.Status.ACTIVE).exists()
    if not valid:
        messages.warning(
            request,
            _(
                "We don't know the referral code %(code)s from this link. Check the code in the form below, "
                "or clear it to join without one."
            )
            % {"code": normalised},
        )
        request.session.pop("referral_code", None)
        return redirect(f"{reverse('account_signup')}?{urlencode({'referral_code': normalised[:32]})}")
    request.session["referral_code"] = normalised
    messages.success(request, _("Referral code %(code)s will be applied when you join.") % {"code": normalised})
    return redirect(f"{reverse('account_signup')}?{urlencode({'referral_code': normalised})}")
