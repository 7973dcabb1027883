from django.urls import path

from backoffice import views

app_name = "staff"

urlpatterns = [
    path("members/find/", views.member_find, name="member_find"),
    path("members/<int:member_id>/", views.member_360, name="member_360"),
    path("members/<int:member_id>/adjust/", views.member_adjust, name="member_adjust"),
    path("analytics/", views.analytics_dashboard, name="analytics"),
    path("liability/", views.liability_report, name="liability"),
    path("nps/", views.nps_dashboard, name="nps"),
    path("nps/export.csv", views.nps_csv, name="nps_csv"),
    path("liability/export.csv", views.liability_csv, name="liability_csv"),
    path("liability/estimates/", views.liability_estimate, name="liability_estimate"),
    path("liability/periods/close/", views.liability_period_close, name="liability_period_close"),
    path("liability/periods/<int:period_id>/reopen/", views.liability_period_reopen, name="liability_period_reopen"),
    path("partners/settlement/", views.partner_settlements, name="partner_settlements"),
    path("partners/<slug:slug>/settlement/<str:month>/", views.partner_statement, name="partner_statement"),
    path(
        "partners/<slug:slug>/settlement/<str:month>/statement.csv",
        views.partner_statement_csv,
        name="partner_statement_csv",
    ),
    path(
        "partners/<slug:slug>/settlement/<str:month>/close/",
        views.partner_statement_close,
        name="partner_statement_close",
    ),
    path("exports/", views.exports_index, name="exports"),
    path("exports/members.csv", views.export_members, name="export_members"),
    path("exports/ledger.csv", views.export_ledger, name="export_ledger"),
    path("exports/redemptions.csv", views.export_redemptions, name="export_redemptions"),
    path("imports/new/", views.import_new, name="import_new"),
    path("imports/<int:job_id>/run/", views.import_run_for_real, name="import_run"),
    path("imports/<int:job_id>/errors.csv", views.import_errors_csv, name="import_errors"),
    path("imports/<int:job_id>/resume/", views.import_resume, name="import_resume"),
    path("imports/<int:job_id>/cancel/", views.import_cancel, name="import_cancel"),
]
