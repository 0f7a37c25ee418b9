import itertools

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.cache import cache_page

from omnitenant import TenantContext

_renders = itertools.count(1)


@cache_page(60)
def page(request):
    tenant = TenantContext.get_tenant()
    return HttpResponse(f"{tenant.tenant_id if tenant else 'public'} render {next(_renders)}")


urlpatterns = [path("page/", page)]
