from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import tiers_list


def home(request):
    from django.apps import apps

    featured_rewards = []
    if apps.is_installed("rewards"):
        try:
            from rewards.selectors import rewards_featured

            featured_rewards = rewards_featured(limit=4)
        except ImportError:
            featured_rewards = []
    return render(request, "home.html", {"tiers": tiers_list(), "featured_rewards": featured_rewards})


def terms(request):
    return render(request, "terms.html")


@login_required
def dashboard(request):
    return render(request, "members/placeholder.html", {"page_title": "Dashboard"})


@login_required
def activity(request):
    return render(request, "members/placeholder.html", {"page_title": "Activity"})


@login_required
def tiers(request):
    return render(request, "members/placeholder.html", {"page_title": "Tiers"})


@login_required
def card(request):
    return render(request, "members/placeholder.html", {"page_title": "Card"})


@login_required
def profile(request):
    return render(request, "members/placeholder.html", {"page_title": "Profile"})
