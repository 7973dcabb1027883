from allauth.account.adapter import DefaultAccountAdapter

from .services import member_enroll


class AccountAdapter(DefaultAccountAdapter):
    """Universal enrolment: every account created through sign-up becomes a member in the same transaction."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            referral_code = ""
            if request is not None:
                referral_code = request.session.get("referral_code", "") if hasattr(request, "session") else ""
                referral_code = form.cleaned_data.get("referral_code") or referral_code
            member_enroll(
                user=user,
                channel="web",
                marketing_consent=bool(form.cleaned_data.get("marketing_consent")),
                context={"referral_code": referral_code, "request": request},
            )
        return user
