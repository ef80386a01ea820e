from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views
from .access import portal_login_required

app_name = "portal"

urlpatterns = [
    path("", views.my_cases, name="my_cases"),
    path("cases/<int:pk>/", views.case_detail, name="case"),
    path("cases/<int:pk>/accept/", views.referral_accept, name="accept"),
    path("cases/<int:pk>/decline/", views.referral_decline, name="decline"),
    path("cases/<int:pk>/reassign/", views.referral_reassign, name="reassign"),
    path(
        "cases/<int:pk>/referral/<slug:action>/",
        views.referral_action,
        name="referral_action",
    ),
    path("intake/", views.intake, name="intake"),
    path("intake/<int:referral_pk>/assign/", views.intake_assign, name="intake_assign"),
    path(
        "cases/<int:pk>/attachments/<int:attachment_pk>/download/",
        views.attachment_download,
        name="attachment_download",
    ),
    path(
        "cases/<int:pk>/servicerequests/<int:record_pk>/status/",
        views.service_request_status,
        name="service_request_status",
    ),
    # Each view tab has its own URL; after the fixed ones above, so they never read as tabs.
    path("cases/<int:pk>/<slug:tab>/add/", views.record_add, name="record_add"),
    path("cases/<int:pk>/<slug:tab>/", views.case_tab, name="case_tab"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path(
        "logout/",
        portal_login_required(
            auth_views.LogoutView.as_view(next_page=reverse_lazy("portal:login"))
        ),
        name="logout",
    ),
    path(
        "password/",
        portal_login_required(views.PortalPasswordChangeView.as_view()),
        name="password_change",
    ),
    path(
        "password/done/",
        portal_login_required(views.PortalPasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("password/reset/", views.PortalPasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        views.PortalPasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        views.PortalPasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
