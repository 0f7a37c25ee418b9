from omnitenant import TenantContext, lookup


class HeaderTenantMiddleware:
    """Test stand-in for TenantMiddleware: X-Tenant selects the tenant for the whole request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant_id = request.headers.get("X-Tenant")
        tenant = lookup.tenant_by_id(tenant_id) if tenant_id else None
        with TenantContext.use_tenant(tenant):
            return self.get_response(request)
