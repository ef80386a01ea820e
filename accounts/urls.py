"""Sign-in, sign-out, password change and two-step verification of agency staff (the
Partner Portal's own sign-in pages are in portal.urls), and the home redirect."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import mfa, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.AgencyLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.AgencyPasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("mfa/verify/", mfa.mfa_verify, name="mfa_verify"),
    path("mfa/setup/", mfa.mfa_setup, name="mfa_setup"),
]
