import django_filters

from ..models import Reward


class RewardFilter(django_filters.FilterSet):
    category = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    featured = django_filters.BooleanFilter()
    max_points = django_filters.NumberFilter(field_name="points_cost", lookup_expr="lte", label="Costs at most")
    min_points = django_filters.NumberFilter(field_name="points_cost", lookup_expr="gte", label="Costs at least")

    class Meta:
        model = Reward
        fields = ["category", "kind", "featured"]
