from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from members.models import Member

from .exceptions import InvalidUnsubscribeLink
from .selectors import member_offers
from .services import member_unsubscribe
from .services.emails import member_from_unsubscribe_token


@login_required
def offers(request):
    member = get_object_or_404(Member.objects.select_related("tier"), user=request.user)
    return render(request, "campaigns/offers.html", {"offers": member_offers(member=member)})


@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """GET asks for confirmation (link scanners must not unsubscribe anyone); POST unsubscribes."""
    try:
        member = member_from_unsubscribe_token(token=token)
    except InvalidUnsubscribeLink as error:
        return render(request, "campaigns/unsubscribe.html", {"error": error.message}, status=400)
    done = False
    if request.method == "POST":
        member = member_unsubscribe(token=token)
        done = True
    return render(request, "campaigns/unsubscribe.html", {"member": member, "done": done})
