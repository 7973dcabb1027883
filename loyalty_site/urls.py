from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from members import views as member_views

# Staff sign in through allauth, so its rate limits and two-factor authentication guard the console too.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Loyalty staff console"
admin.site.site_title = "Loyalty staff console"

urlpatterns = [
    path("", member_views.home, name="home"),
    path("terms/", member_views.terms, name="terms"),
    path("accounts/signup/", member_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("me/", include("members.urls")),
    path("rewards/", include("rewards.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("admin/staff/", include("members.staff.urls")),
    path("admin/", admin.site.urls),
    path("", include("referrals.urls")),
    path("api/", include("loyalty_site.api")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
