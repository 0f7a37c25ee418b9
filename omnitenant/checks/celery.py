"""System checks for omnitenant.celery (omnitenant.E060-E069)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register

from omnitenant.conf import CELERY_TENANT_NOT_FOUND_CHOICES, RULES, raw_value

__all__ = ["CELERY_TENANT_NOT_FOUND_CHOICES", "check_celery"]


@register(Tags.compatibility)
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E060: CELERY_TENANT_NOT_FOUND is "fail" or "reject"."""
    value = raw_value("CELERY_TENANT_NOT_FOUND")
    if not RULES["CELERY_TENANT_NOT_FOUND"].accepts(value):
        return [
            Error(
                f"OMNITENANT_CONFIG['CELERY_TENANT_NOT_FOUND'] = {value!r} is not a known action.",
                hint="Use 'fail' (the task fails with TenantNotFound) or 'reject' (the message "
                "is rejected without a result).",
                id="omnitenant.E060",
            )
        ]
    return []
