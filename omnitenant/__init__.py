"""omnitenant: one Django project, many tenants, nothing shared by accident."""

from omnitenant.context import TenantContext

__all__ = ["TenantContext"]
