"""URLs of the public site (localhost): the tenant directory and the admin."""

from django.contrib import admin
from django.urls import path

from customers.views import tenant_directory

urlpatterns = [
    path("", tenant_directory, name="directory"),
    path("admin/", admin.site.urls),
]
