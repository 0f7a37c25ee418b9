from django.urls import path

from tests.testapp import views

urlpatterns = []

# --- requests (TenantMiddleware) ----------------------------------------------------------
urlpatterns += [
    path("whoami/", views.whoami),
    path("awhoami/", views.awhoami),
    path("boom/", views.boom),
    path("aboom/", views.aboom),
    path("stream/", views.stream),
    path("astream/", views.astream),
    path("file/", views.file),
]
# --- end requests -------------------------------------------------------------------------
