import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import Reward


class StrictNullBooleanField(forms.NullBooleanField):
    """``true`` / ``false`` (or ``1`` / ``0``); anything else is refused instead of meaning "no filter"."""

    widget = forms.TextInput  # the default select widget turns any unknown value into "no filter" first

    def to_python(self, value):
        if value is None:  # not given
            return None
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise forms.ValidationError(_("Use true or false."), code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictNullBooleanField


class PresentIntegerField(forms.IntegerField):
    """A whole number; given empty (``?max_points=``) it is refused rather than ignored."""

    def to_python(self, value):
        if value == "":
            raise forms.ValidationError(_("Give a whole number."), code="invalid")
        return super().to_python(value)


class IntegerFilter(django_filters.NumberFilter):
    """Points are whole numbers: ``1.5`` is refused (400), as the schema's ``integer`` says, not read as 1.5."""

    field_class = PresentIntegerField


class RewardFilter(django_filters.FilterSet):
    category = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    featured = StrictBooleanFilter()
    max_points = IntegerFilter(field_name="points_cost", lookup_expr="lte", label="Costs at most")
    min_points = IntegerFilter(field_name="points_cost", lookup_expr="gte", label="Costs at least")

    class Meta:
        model = Reward
        fields = ["category", "kind", "featured"]
