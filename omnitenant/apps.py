"""The omnitenant AppConfig: registers the system checks and applies the enabled patches."""

from __future__ import annotations

from django.apps import AppConfig


class OmnitenantConfig(AppConfig):
    name = "omnitenant"
    verbose_name = "omnitenant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omnitenant import checks  # noqa: F401 - registers the system checks
