import uuid

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.models import ImportJob
from backoffice.periods import Period

MAX_PERIOD_DAYS = 3660


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end date must not be before the start date."))
            elif (end - start).days >= MAX_PERIOD_DAYS:
                self.add_error("end", _("Choose a period of at most ten years."))
        return data

    @property
    def period(self) -> Period:
        return Period(start=self.cleaned_data["start"], end=self.cleaned_data["end"])

    @classmethod
    def from_request(cls, request, *, default_days: int = 30):
        """Bound to the query string, or to the last ``default_days`` days when it has no dates."""
        if "start" in request.GET or "end" in request.GET:
            return cls(request.GET)
        period = Period.last_days(default_days)
        return cls({"start": period.start.isoformat(), "end": period.end.isoformat()})


class AsOfForm(forms.Form):
    as_of = forms.DateField(label=_("Liability as of"), widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def from_request(cls, request):
        if "as_of" in request.GET:
            return cls(request.GET)
        return cls({"as_of": timezone.localdate().isoformat()})


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"), help_text=_("Positive to add, negative to remove."), min_value=-(10**9), max_value=10**9
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)
    token = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex, max_length=64)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Add or remove at least one point."))
        return points


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What to import"), choices=ImportJob.Kind.choices)
    file = forms.FileField(label=_("CSV file (UTF-8, header row first)"))
    source_name = forms.SlugField(
        label=_("Source name (purchases)"), initial="till", max_length=40, help_text=_("Stored as import:<name>.")
    )
    dry_run = forms.BooleanField(label=_("Dry run: check every row, write nothing"), required=False, initial=True)


class RedemptionEstimateForm(forms.Form):
    rate = forms.DecimalField(
        label=_("Expected redemption rate"),
        min_value=0,
        max_value=1,
        max_digits=5,
        decimal_places=4,
        help_text=_("0–1: 0.95 means 95 % of issued points are expected to be redeemed."),
    )
    effective_from = forms.DateField(label=_("In force from"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ClosePeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}))


class ReopenPeriodForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000)
