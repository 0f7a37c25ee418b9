"""PUBLIC_URLCONF for the request tests."""

from django.urls import path

from tests.testapp import views

urlpatterns = [path("whoami/", views.whoami), path("only/", views.public_only)]
