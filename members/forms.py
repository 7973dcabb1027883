from django import forms
from django.utils.translation import gettext_lazy as _

from .exceptions import LoyaltyError


def apply_domain_error(form: forms.Form, error: LoyaltyError) -> None:
    """Show a domain error on a form: on its field when the form has that field, otherwise on the whole form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class SignupExtraForm(forms.Form):
    """Extra sign-up fields; allauth calls ``signup()`` after creating the user."""

    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    referral_code = forms.CharField(
        label=_("Referral code (optional)"),
        max_length=32,
        required=False,
        help_text=_("Got a code from a friend? Enter it here and you both earn a bonus after your first purchase."),
    )
    marketing_consent = forms.BooleanField(
        label=_("Send me offers and news by email"),
        required=False,
    )

    def signup(self, request, user):
        user.first_name = self.cleaned_data.get("first_name", "")
        user.last_name = self.cleaned_data.get("last_name", "")
        user.save(update_fields=["first_name", "last_name"])
