"""URLs of the public site (localhost): the tenant directory and the admin."""

from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path

from customers.views import tenant_directory

urlpatterns = [
    path("", tenant_directory, name="directory"),
    path("admin/", admin.site.urls),
    # The admin's CSS without a build or collectstatic step; a real deployment serves static
    # files from the web server or with whitenoise instead.
    path("static/<path:path>", serve, {"insecure": True}),
]
