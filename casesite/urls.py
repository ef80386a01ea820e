from django.contrib import admin
from django.urls import include, path

from . import views

handler500 = "casesite.views.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("cases/", include("cases.urls")),
    path("portal/", include("portal.urls")),
    path("admin/", admin.site.urls),
]
