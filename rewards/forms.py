from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from .models import Reward
from .services import ShippingAddress

MAX_QUANTITY = 20


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    kind = forms.ChoiceField(label=_("Type"), required=False, choices=[("", _("All types")), *Reward.Kind.choices])
    affordable = forms.BooleanField(label=_("Only rewards I can afford now"), required=False)

    def __init__(self, *args, categories=(), member=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All categories"))] + [(c, c.title()) for c in categories]
        if not member:
            del self.fields["affordable"]  # a visitor has no points yet


class RedeemForm(forms.Form):
    """The confirmation step. The hidden key, made when the page was shown, makes a double submit harmless."""

    idempotency_key = forms.CharField(
        widget=forms.HiddenInput,
        min_length=16,
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$")],
    )

    def __init__(self, *args, reward: Reward, **kwargs):
        super().__init__(*args, **kwargs)
        self.reward = reward
        if reward.allows_quantity:
            self.fields["quantity"] = forms.IntegerField(
                label=_("How many"), min_value=1, max_value=MAX_QUANTITY, initial=1
            )
        if reward.kind == Reward.Kind.DONATION:
            self.fields["points"] = forms.IntegerField(
                label=_("Points to donate"),
                min_value=reward.points_cost,
                initial=reward.points_cost,
                help_text=_("At least %(minimum)s points.") % {"minimum": reward.points_cost},
            )
        if reward.requires_shipping:
            self.fields["shipping_name"] = forms.CharField(label=_("Full name"), max_length=150)
            self.fields["shipping_line1"] = forms.CharField(label=_("Address"), max_length=200)
            self.fields["shipping_line2"] = forms.CharField(label=_("Address line 2"), max_length=200, required=False)
            self.fields["shipping_postcode"] = forms.CharField(label=_("Postcode"), max_length=20)
            self.fields["shipping_city"] = forms.CharField(label=_("City"), max_length=100)
            self.fields["shipping_country"] = forms.CharField(
                label=_("Country code"),
                max_length=2,
                min_length=2,
                initial="NL",
                help_text=_("Two letters, for example NL or BE."),
                validators=[RegexValidator(r"^[A-Za-z]{2}$", _("Enter a two-letter country code."))],
            )
            for name, autocomplete in (
                ("shipping_name", "name"),
                ("shipping_line1", "address-line1"),
                ("shipping_line2", "address-line2"),
                ("shipping_postcode", "postal-code"),
                ("shipping_city", "address-level2"),
                ("shipping_country", "country"),
            ):
                self.fields[name].widget.attrs["autocomplete"] = autocomplete

    @property
    def chosen_quantity(self) -> int:
        return self.cleaned_data.get("quantity") or 1

    @property
    def chosen_points(self) -> int | None:
        return self.cleaned_data.get("points")

    def shipping_address(self) -> ShippingAddress | None:
        if not self.reward.requires_shipping:
            return None
        data = self.cleaned_data
        return ShippingAddress(
            name=data["shipping_name"],
            line1=data["shipping_line1"],
            line2=data.get("shipping_line2", ""),
            postcode=data["shipping_postcode"],
            city=data["shipping_city"],
            country=data["shipping_country"],
        )
