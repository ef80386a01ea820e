"""The site's URLs with the benchmark's baseline pages in front (bench.settings only)."""

from casesite.urls import urlpatterns as site_urlpatterns

from .views import urlpatterns as bench_urlpatterns

handler500 = "casesite.views.server_error"

urlpatterns = [*bench_urlpatterns, *site_urlpatterns]
