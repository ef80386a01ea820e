from django.urls import include, path

from . import accounting_views, routing_views, views
from .inbox import views as inbox_views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    # Assignment Manager: /cases/routing/... and /cases/<pk>/route/ (before the tab catch-all).
    path("", include(routing_views.urlpatterns)),
    path("new/", views.case_new, name="new"),
    path("referrals/", views.referrals, name="referrals"),
    # The case owner's Inbox: /cases/inbox/... (before the <int:pk> patterns).
    path("", include(inbox_views.urlpatterns)),
    # The accounting of disclosures: /cases/<pk>/disclosures/ and its CSV.
    path("", include(accounting_views.urlpatterns)),
    # One case: the page (Details tab) and each view tab at its own URL.
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/edit/", views.case_edit, name="edit"),
    path("<int:pk>/live/", views.case_live, name="live"),
    path("<int:pk>/transition/<slug:name>/", views.case_transition, name="transition"),
    path("<int:pk>/partners/options/", views.partner_options, name="partner_options"),
    path("<int:pk>/partners/add/", views.partner_add, name="partner_add"),
    path(
        "<int:pk>/partners/<int:partner_pk>/primary/",
        views.partner_set_primary,
        name="partner_primary",
    ),
    path("<int:pk>/partners/<int:partner_pk>/remove/", views.partner_remove, name="partner_remove"),
    path("<int:pk>/team/add/", views.team_add, name="team_add"),
    path("<int:pk>/team/<int:user_pk>/remove/", views.team_remove, name="team_remove"),
    path("<int:pk>/consent/record/", views.consent_record, name="consent_record"),
    path("<int:pk>/consent/<int:consent_pk>/revoke/", views.consent_revoke, name="consent_revoke"),
    path("<int:pk>/consent/emergency/", views.emergency_access_grant, name="emergency_grant"),
    path(
        "<int:pk>/servicerequests/<int:record_pk>/status/",
        views.servicerequest_status,
        name="servicerequest_status",
    ),
    path(
        "<int:pk>/attachments/<int:attachment_pk>/download/",
        views.attachment_download,
        name="attachment_download",
    ),
    path("<int:pk>/<slug:kind>/add/", views.record_add, name="record_add"),
    # Same name as the page: `{% url 'cases:detail' pk 'partners' %}` is the Partners tab.
    path("<int:pk>/<slug:tab>/", views.case_detail, name="detail"),
]
