"""The sample site's tenants and their host names (OMNITENANT_CONFIG TENANT/DOMAIN_MODEL)."""

from omnitenant.models import BaseDomain, BaseTenant


class Tenant(BaseTenant):
    """A customer of the sample site, e.g. acme at acme.localhost."""


class Domain(BaseDomain):
    """A host name serving one tenant."""
