from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import hooks
from .exceptions import LoyaltyError
from .member_rules import birthday_problem
from .models import LedgerEntry
from .selectors import ActivityCursor


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

    def clean(self):
        cleaned = super().clean()
        for check in hooks.signup_checks:
            for field, message in check(cleaned).items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, message)
        return cleaned

    def signup(self, request, user):
        user.first_name = self.cleaned_data.get("first_name", "")
        user.last_name = self.cleaned_data.get("last_name", "")
        user.save(update_fields=["first_name", "last_name"])


class ActivityFilterForm(forms.Form):
    """The GET filters of the activity page, and its keyset cursors (signed, so they cannot be forged)."""

    kind = forms.ChoiceField(label=_("Type"), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
    after = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All types")), *LedgerEntry.Kind.choices]

    def _clean_cursor(self, name):
        token = self.cleaned_data.get(name)
        if not token:
            return None
        try:
            return ActivityCursor.decode(token)
        except ValueError:
            raise forms.ValidationError(
                _("This page link is not valid any more. Start again from the newest activity."), code="cursor"
            ) from None

    def clean_before(self):
        return self._clean_cursor("before")

    def clean_after(self):
        return self._clean_cursor("after")

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date must be on or after the start date."))
        if cleaned.get("before") and cleaned.get("after"):
            raise forms.ValidationError(_("This page link is not valid."), code="cursor")
        return cleaned


PHONE_VALIDATOR = RegexValidator(
    r"^\+?[0-9][0-9 ()\-]{5,30}$",
    _("Enter a phone number with digits, spaces, brackets or dashes, e.g. +31 6 1234 5678."),
)


class ProfileForm(forms.Form):
    """What members may change about themselves; a birthday, once set, is shown but not editable."""

    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    birthday = forms.DateField(
        label=_("Birthday"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("We send a birthday gift. Once saved, only our staff can change it."),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        validators=[PHONE_VALIDATOR],
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email_notifications = forms.BooleanField(
        label=_("Service emails (points about to expire, voucher reminders, a question after a purchase)"),
        required=False,
    )
    marketing_consent = forms.BooleanField(label=_("Offers and news by email"), required=False)

    def __init__(self, *args, member, **kwargs):
        self.member = member
        user = member.user
        kwargs.setdefault(
            "initial",
            {
                "first_name": user.first_name,
                "last_name": user.last_name,
                "birthday": member.birthday,
                "phone": member.phone,
                "email_notifications": member.email_notifications,
                "marketing_consent": member.marketing_consent,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["first_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["last_name"].widget.attrs["autocomplete"] = "family-name"
        self.fields["birthday"].widget.attrs["autocomplete"] = "bday"
        if member.birthday is not None:
            self.fields["birthday"].disabled = True
            self.fields["birthday"].help_text = _("To correct your birthday, please contact us.")

    def clean_birthday(self):
        birthday = self.cleaned_data.get("birthday")
        if birthday is None or self.fields["birthday"].disabled:
            return birthday
        problem = birthday_problem(birthday, today=timezone.localdate())
        if problem == "future":
            raise forms.ValidationError(_("Your birthday cannot be in the future."))
        if problem == "too_old":
            raise forms.ValidationError(_("Please check the year of your birthday."))
        return birthday

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        if self.fields["birthday"].disabled or data.get("birthday") is None:
            data.pop("birthday", None)
        data["phone"] = data.get("phone", "").strip()
        return data


class CloseAccountForm(forms.Form):
    """Confirmation for closing a membership: a deliberate tick and the member's password."""

    confirm = forms.BooleanField(
        label=_("I understand that my points are forfeited and my membership cannot be reopened."),
        required=True,
        error_messages={"required": _("Tick the box to confirm that you want to close your membership.")},
    )
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data.get("password", "")
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That password is not correct."), code="password_incorrect")
        return password


class FeedbackForm(forms.Form):
    """The emailed feedback question: 0–10 and an optional comment. Plain radio buttons, no JavaScript."""

    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend us to a friend?"),
        choices=[(n, str(n)) for n in range(11)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a number from 0 to 10.")},
    )
    comment = forms.CharField(
        label=_("What is the main reason for your score?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
