"""URLs of a tenant's site (acme.localhost): the notes board."""

from django.urls import path

from notes import views

urlpatterns = [
    path("", views.board, name="board"),
    path("notes/", views.create_note, name="create_note"),
    path("settings/", views.update_settings, name="update_settings"),
    path("recount/", views.recount, name="recount"),
    path("recount/status/", views.recount_status, name="recount_status"),
    path("about/", views.about, name="about"),
]
