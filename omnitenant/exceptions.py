"""The errors omnitenant raises; each message says what to do about it."""

from __future__ import annotations

from django.core.cache.backends.base import InvalidCacheKey
from django.core.exceptions import ImproperlyConfigured


class OmnitenantError(Exception):
    """Base class of every omnitenant error."""


class InvalidTenantId(OmnitenantError, ValueError):
    """A tenant_id that is not 1-63 chars of a-z 0-9 _ - (letter/digit first, no pg_ prefix)."""


class NoTenantActive(OmnitenantError, RuntimeError):
    """Something that needs a tenant ran with none active."""


class TenantNotFound(OmnitenantError, LookupError):
    """No active tenant matches the given id, host or header."""


class InvalidCacheVersion(OmnitenantError, InvalidCacheKey):
    """A cache version containing ":", which would move a key into another tenant's segment."""


# --- database isolation ---------------------------------------------------------------------


class IsolationError(OmnitenantError, RuntimeError):
    """A tenant's rows cannot be kept apart as configured (no schema support, no db_alias...)."""


class ProvisioningError(OmnitenantError, RuntimeError):
    """Creating or migrating a tenant's schema or database failed; nothing was left behind."""


class TenantNotProvisioned(IsolationError):
    """The tenant's schema, database or tables do not exist (yet): it answers 503, never 500."""


class ConfigurationError(OmnitenantError, ImproperlyConfigured):
    """OMNITENANT_CONFIG holds a value omnitenant cannot read safely (see manage.py check)."""
