from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.urls import include, path, re_path

from loyalty_site import health
from loyalty_site.metrics import metrics_view
from members import views as member_views
from rewards import views as reward_views

# Staff sign in through allauth, so its rate limits and two-factor authentication guard the console too.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Loyalty staff console"
admin.site.site_title = "Loyalty staff console"

#: Admin pages of models that moved out of the members app keep answering at their old addresses (bookmarks,
#: links in old emails): a 308 keeps the method and body, so even a form posted to the old address still works.
MOVED_ADMIN_MODELS = {
    "integrations": ("apikey", "idempotencyrecord", "webhookendpoint", "webhookdelivery"),
    "backoffice": (
        "staffsettings",
        "staffauditlog",
        "adjustmentrequest",
        "importjob",
        "dailypoints",
        "dailyactivity",
        "dailytiermovement",
        "rollupstate",
    ),
}


def _moved_admin(app_label: str):
    def redirect(request, model: str, rest: str):
        query = request.META.get("QUERY_STRING", "")
        target = f"/admin/{app_label}/{model}/{rest}" + (f"?{query}" if query else "")
        return HttpResponsePermanentRedirect(target, preserve_request=True)

    return redirect


urlpatterns = [
    *(
        re_path(rf"^admin/members/(?P<model>{'|'.join(models)})/(?P<rest>.*)$", _moved_admin(app_label))
        for app_label, models in MOVED_ADMIN_MODELS.items()
    ),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("", member_views.home, name="home"),
    path("terms/", member_views.terms, name="terms"),
    path("feedback/<str:token>/", member_views.feedback, name="feedback"),
    path("accounts/signup/", member_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("me/", include("members.urls")),
    path("rewards/", include("rewards.urls")),
    path("partners/", reward_views.partners, name="partners"),
    path("campaigns/", include("campaigns.urls")),
    path("admin/staff/", include("backoffice.urls")),
    path("admin/", admin.site.urls),
    path("", include("referrals.urls")),
    path("api/", include("loyalty_site.api")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
