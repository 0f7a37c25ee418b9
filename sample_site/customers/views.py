"""The public site: a directory of the tenants, each linked to its own host."""

from django.shortcuts import render

from customers.models import Tenant


def tenant_directory(request):
    port = request.get_port()
    suffix = "" if port in ("80", "443") else f":{port}"
    tenants = [
        {"tenant": tenant, "url": f"{request.scheme}://{_host(tenant)}{suffix}/"}
        for tenant in Tenant.objects.active().prefetch_related("domains")
    ]
    return render(request, "public/directory.html", {"tenants": tenants})


def _host(tenant):
    domains = sorted(tenant.domains.all(), key=lambda domain: not domain.is_primary)
    return domains[0].domain if domains else f"{tenant.tenant_id}.localhost"
