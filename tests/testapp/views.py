"""Views for the request tests: each reports the tenant it runs in."""

import asyncio
import io

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse

from omnitenant import TenantContext


def _current():
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


def whoami(request):
    tenant = getattr(request, "tenant", "unset")
    return JsonResponse(
        {
            "active": _current(),
            "request": tenant.tenant_id if tenant not in (None, "unset") else tenant,
            "urlconf": getattr(request, "urlconf", None),
        }
    )


async def awhoami(request):
    await asyncio.sleep(0)
    return whoami(request)


def boom(request):
    msg = f"view failed inside {_current()}"
    raise RuntimeError(msg)


async def aboom(request):
    msg = f"view failed inside {_current()}"
    raise RuntimeError(msg)


def stream(request):
    def chunks():
        for index in range(3):
            yield f"{index}:{_current()};"

    return StreamingHttpResponse(chunks())


async def astream(request):
    async def chunks():
        for index in range(3):
            await asyncio.sleep(0)
            yield f"{index}:{_current()};"

    return StreamingHttpResponse(chunks())


class _TenantFile(io.RawIOBase):
    """A file whose bytes are the tenant active while each block is read."""

    def __init__(self):
        self.blocks = 3

    def readable(self):
        return True

    def read(self, size=-1):
        if not self.blocks:
            return b""
        self.blocks -= 1
        return f"{_current()};".encode()


def file(request):
    return FileResponse(_TenantFile())


def public_only(request):
    return HttpResponse("public urlconf")


def tenant_only(request):
    return HttpResponse("tenant urlconf")
