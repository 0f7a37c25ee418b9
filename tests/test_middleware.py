"""TenantMiddleware end to end, once through the WSGI test client and once through ASGI."""

import json
import logging
import time
import uuid

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.test import AsyncClient, Client

from omnitenant import TenantContext, lookup, middleware
from omnitenant.lookup import _stamp
from omnitenant.middleware import TenantMiddleware
from omnitenant.testing import create_tenant_row
from tests.testapp.models import Domain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_lookups")]


class HostAsyncClient(AsyncClient):
    """An AsyncClient that sends exactly our host header (Django's always adds testserver)."""

    def __init__(self, host, **headers):
        super().__init__()
        self.extra_headers = [(b"host", host.encode())] + [
            (name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()
        ]

    def _base_scope(self, **request):
        scope = super()._base_scope(**request)
        scope["headers"] = [h for h in scope["headers"] if h[0] != b"host"] + self.extra_headers
        return scope


class Response:
    def __init__(self, response, chunks):
        self.status_code = response.status_code
        self.chunks = chunks
        self.content = b"".join(chunks)
        self.raw = response

    def json(self):
        return json.loads(self.content)


def send_wsgi(path, host, **headers):
    response = Client(headers={"host": host, **headers}).get(path)
    chunks = []
    if response.streaming:
        for chunk in response.streaming_content:
            # The consumer of a streaming body never sees the tenant between chunks.
            assert TenantContext.get_tenant() is None
            chunks.append(chunk)
        response.close()
    else:
        chunks.append(response.content)
    return Response(response, chunks)


def send_asgi(path, host, **headers):
    async def go():
        response = await HostAsyncClient(host, **headers).get(path)
        chunks = []
        if response.streaming:
            iterator = response.streaming_content
            if hasattr(iterator, "__aiter__"):
                async for chunk in iterator:
                    assert TenantContext.get_tenant() is None
                    chunks.append(chunk)
            else:
                for chunk in iterator:
                    assert TenantContext.get_tenant() is None
                    chunks.append(chunk)
        else:
            chunks.append(response.content)
        assert TenantContext.get_tenant() is None
        return Response(response, chunks)

    return async_to_sync(go)()


@pytest.fixture(params=["wsgi", "asgi"])
def stack(request):
    return request.param


@pytest.fixture
def send(stack):
    return send_wsgi if stack == "wsgi" else send_asgi


@pytest.fixture
def view(stack):
    """The URL prefix of the view flavour that fits the stack (sync views on WSGI)."""
    return (lambda name: f"/{name}/") if stack == "wsgi" else (lambda name: f"/a{name}/")


@pytest.fixture
def tenants():
    acme = create_tenant_row("acme", domains=["shop.acme.io"], name="Acme Secret")
    globex = create_tenant_row("globex", domains=["globex.io"], name="Globex Secret")
    dormant = create_tenant_row("dormant", name="Dormant Secret", is_active=False)
    return acme, globex, dormant


@pytest.fixture
def header_enabled(settings):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "TENANT_HEADER": "X-Tenant-ID"}


SECRETS = (b"acme", b"globex", b"dormant", b"Secret")


def assert_refused(response, host=None):
    assert response.status_code == 404
    assert b"Not Found" in response.content
    body = response.content.replace(host.encode(), b"") if host else response.content
    for secret in SECRETS:
        assert secret not in body


# --- resolution -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.acme.io", "acme"),
        ("SHOP.ACME.IO:8000", "acme"),
        ("shop.acme.io.", "acme"),
        ("acme.example.com", "acme"),
        ("Acme.Example.Com.:443", "acme"),
        ("globex.io", "globex"),
        ("globex.example.com", "globex"),
    ],
)
def test_tenant_hosts_run_the_view_inside_their_tenant(send, view, tenants, host, expected):
    response = send(view("whoami"), host)
    assert response.status_code == 200
    assert response.json() == {"active": expected, "request": expected, "urlconf": None}
    assert TenantContext.get_tenant() is None


def test_public_hosts_run_with_no_tenant(send, view, tenants):
    for host in ("example.com", "WWW.example.com:80"):
        response = send(view("whoami"), host)
        assert response.status_code == 200
        assert response.json() == {"active": None, "request": None, "urlconf": None}


def test_public_host_runs_with_no_tenant_even_inside_one(tenants):
    acme = tenants[0]
    with TenantContext.use_tenant(acme):
        response = send_wsgi("/whoami/", "example.com")
        assert TenantContext.get_tenant() == acme
    assert response.json()["active"] is None


@pytest.mark.parametrize(
    "host",
    ["nobody.example.com", "dormant.example.com", "gateway.internal", "x.acme.example.com"],
)
def test_unknown_inactive_and_unmatched_hosts_get_404_without_tenant_data(
    send, view, tenants, host
):
    response = send(view("whoami"), host)
    assert_refused(response, host)


def test_inactive_custom_domain_gets_404(send, view, tenants):
    Domain.objects.create(domain="dormant.io", tenant=tenants[2])
    assert_refused(send(view("whoami"), "dormant.io"), "dormant.io")


def test_refusal_is_logged_at_info_with_the_host(send, view, tenants, caplog):
    with caplog.at_level(logging.INFO, logger="omnitenant.middleware"):
        send(view("whoami"), "nobody.example.com")
    [record] = [r for r in caplog.records if r.name == "omnitenant.middleware"]
    assert record.levelno == logging.INFO
    assert "nobody.example.com" in record.getMessage()


def test_not_found_template_can_be_overridden(send, view, tenants, settings, tmp_path):
    (tmp_path / "omnitenant").mkdir()
    (tmp_path / "omnitenant" / "tenant_not_found.html").write_text("Nothing at {{ host }}!")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    response = send(view("whoami"), "nobody.example.com")
    assert response.status_code == 404
    assert response.content == b"Nothing at nobody.example.com!"


def test_host_outside_allowed_hosts_is_a_400(send, view, tenants, settings):
    settings.ALLOWED_HOSTS = ["example.com"]
    assert send(view("whoami"), "shop.acme.io").status_code == 400


# --- the header -------------------------------------------------------------------------


def test_header_selects_the_tenant_on_public_and_neutral_hosts(send, view, tenants, header_enabled):
    assert send(view("whoami"), "example.com", x_tenant_id="globex").json()["active"] == "globex"
    assert send(view("whoami"), "api.internal", x_tenant_id="acme").json()["active"] == "acme"


def test_header_cannot_move_a_request_to_another_tenant(send, view, tenants, header_enabled):
    for host in ("shop.acme.io", "acme.example.com"):
        assert_refused(send(view("whoami"), host, x_tenant_id="globex"), host)
        assert send(view("whoami"), host, x_tenant_id="acme").json()["active"] == "acme"


def test_header_is_ignored_when_disabled(send, view, tenants):
    response = send(view("whoami"), "shop.acme.io", x_tenant_id="globex")
    assert response.json()["active"] == "acme"


@pytest.mark.parametrize("value", ["acme:x", "*", "a" * 200, "äcme", "ACME", "", "nobody"])
def test_bad_header_values_get_404(send, view, tenants, header_enabled, value):
    response = send(view("whoami"), "example.com", x_tenant_id=value)
    assert_refused(response)


@pytest.mark.parametrize("value", ["acme:x", "*", "a" * 200, "acme%00"])
def test_malformed_header_makes_no_query(
    stack, tenants, header_enabled, value, django_assert_num_queries
):
    send = send_wsgi if stack == "wsgi" else send_asgi
    send("/whoami/", "example.com")  # warm the shared stamp
    with django_assert_num_queries(0):
        assert_refused(send("/whoami/", "example.com", x_tenant_id=value))


def test_unicode_header_value_gets_404_without_a_query(tenants, header_enabled, settings):
    # Header bytes arrive as latin-1; a non-ASCII tenant id is never looked up.
    send_wsgi("/whoami/", "example.com")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/whoami/", HTTP_HOST="example.com", HTTP_X_TENANT_ID="ácme")
    assert response.status_code == 404
    assert len(queries) == 0


# --- Vary on the header --------------------------------------------------------------------


def vary(response):
    return [v.strip().lower() for v in response.raw.headers.get("Vary", "").split(",") if v]


@pytest.mark.parametrize(
    ("host", "headers", "status"),
    [
        ("example.com", {"x_tenant_id": "acme"}, 200),
        ("example.com", {"x_tenant_id": "globex"}, 200),
        ("example.com", {}, 200),
        ("example.com", {"x_tenant_id": "nobody"}, 404),
        ("example.com", {"x_tenant_id": "acme:x"}, 404),
        ("api.internal", {"x_tenant_id": "acme"}, 200),
        ("api.internal", {}, 404),
        ("shop.acme.io", {}, 200),
        ("shop.acme.io", {"x_tenant_id": "globex"}, 404),
        ("acme.example.com", {"x_tenant_id": "acme"}, 200),
        ("nobody.example.com", {}, 404),
    ],
)
def test_every_response_varies_on_the_enabled_header(
    send, view, tenants, header_enabled, host, headers, status
):
    for name in ("whoami", "stream"):
        response = send(view(name), host, **headers)
        assert response.status_code == status
        assert vary(response) == ["x-tenant-id"]


def test_vary_on_the_header_keeps_the_responses_own_vary(
    send, view, tenants, header_enabled, settings
):
    # GZipMiddleware compresses every streaming body and varies it on Accept-Encoding.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    response = send(view("stream"), "example.com", x_tenant_id="acme", accept_encoding="gzip")
    assert vary(response) == ["accept-encoding", "x-tenant-id"]


def test_no_vary_while_the_header_is_disabled(send, view, tenants):
    for host in ("example.com", "shop.acme.io", "nobody.example.com"):
        assert vary(send(view("whoami"), host, x_tenant_id="acme")) == []


# --- domain rows saved without validation -------------------------------------------------


def test_foreign_domain_rows_never_serve_another_tenants_host(send, view, tenants):
    globex = tenants[1]
    Domain.objects.bulk_create(
        [Domain(domain=host, tenant=globex) for host in ("acme.example.com", "x.acme.example.com")]
    )
    lookup.invalidate()
    assert send(view("whoami"), "acme.example.com").json()["active"] == "acme"
    assert_refused(send(view("whoami"), "x.acme.example.com"), "x.acme.example.com")


def test_idn_domain_is_served_at_the_host_browsers_send(send, view, tenants):
    create_tenant_row("strasse", domains=["straße.test"])
    assert send(view("whoami"), "xn--strae-oqa.test").json()["active"] == "strasse"


# --- warm requests and invalidation -------------------------------------------------------


def test_warm_requests_make_no_query(
    send, view, tenants, header_enabled, django_assert_num_queries
):
    requests = [
        ("shop.acme.io", {}),
        ("acme.example.com", {}),
        ("globex.io", {"x_tenant_id": "globex"}),
        ("example.com", {}),
        ("example.com", {"x_tenant_id": "acme"}),
        ("nobody.example.com", {}),
        ("example.com", {"x_tenant_id": "nobody"}),
    ]
    for host, headers in requests:
        send(view("whoami"), host, **headers)
    with django_assert_num_queries(0):
        for _ in range(3):
            for host, headers in requests:
                assert send(view("whoami"), host, **headers).status_code in (200, 404)


def test_warm_async_requests_do_not_hop_to_a_thread(tenants, monkeypatch):
    hops = []
    real = middleware.sync_to_async

    def counting(func, *args, **kwargs):
        hops.append(func)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(middleware, "sync_to_async", counting)
    assert send_asgi("/awhoami/", "shop.acme.io").json()["active"] == "acme"
    assert len(hops) == 1  # cold: the lookup queried the database in a thread
    for _ in range(3):
        assert send_asgi("/awhoami/", "shop.acme.io").json()["active"] == "acme"
    assert len(hops) == 1


def test_moved_domain_sends_the_next_request_to_the_new_tenant(send, view, tenants):
    _acme, globex, _ = tenants
    assert send(view("whoami"), "shop.acme.io").json()["active"] == "acme"
    domain = Domain.objects.get(domain="shop.acme.io")
    domain.tenant = globex
    domain.save()
    assert send(view("whoami"), "shop.acme.io").json()["active"] == "globex"
    domain.delete()
    assert_refused(send(view("whoami"), "shop.acme.io"), "shop.acme.io")


def test_deactivated_tenant_is_refused_on_the_next_request(send, view, tenants):
    acme = tenants[0]
    assert send(view("whoami"), "acme.example.com").status_code == 200
    acme.is_active = False
    acme.save()
    assert_refused(send(view("whoami"), "acme.example.com"), "acme.example.com")


def test_change_made_in_another_process_is_seen_by_the_next_request(send, view, tenants, settings):
    # A stamp in memcached cannot be pushed: each request reads it.
    settings.OMNITENANT_CONFIG = {
        **settings.OMNITENANT_CONFIG,
        "RESOLUTION_CACHE_ALIAS": "memcached",
    }
    acme = tenants[0]
    assert send(view("whoami"), "acme.example.com").json()["active"] == "acme"
    # Another process deactivates acme: no signal runs here, only the shared stamp moves.
    type(acme).objects.filter(pk=acme.pk).update(is_active=False)
    assert send(view("whoami"), "acme.example.com").json()["active"] == "acme"
    _stamp.publish_stamp(uuid.uuid4().hex)
    assert_refused(send(view("whoami"), "acme.example.com"), "acme.example.com")


def test_change_made_in_another_process_is_pushed_to_this_one(send, view, tenants, settings):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "RESOLUTION_CACHE_ALIAS": "redis"}
    acme = tenants[0]
    assert send(view("whoami"), "acme.example.com").json()["active"] == "acme"
    deadline = time.monotonic() + 5
    while lookup.reads_stamp():  # the listener subscribes in the background
        assert time.monotonic() < deadline
        time.sleep(0.01)
    type(acme).objects.filter(pk=acme.pk).update(is_active=False)
    _stamp.publish_stamp(uuid.uuid4().hex)
    while send(view("whoami"), "acme.example.com").status_code == 200:
        assert time.monotonic() < deadline, "the change never reached this process"
        time.sleep(0.01)
    assert_refused(send(view("whoami"), "acme.example.com"), "acme.example.com")
    lookup.before_fork()


# --- lifetime ---------------------------------------------------------------------------


def test_streaming_body_is_produced_inside_the_tenant(send, view, tenants):
    response = send(view("stream"), "shop.acme.io")
    assert response.status_code == 200
    assert response.chunks == [b"0:acme;", b"1:acme;", b"2:acme;"]
    assert TenantContext.get_tenant() is None


def test_sync_streaming_body_under_asgi_is_produced_inside_the_tenant(tenants):
    response = send_asgi("/stream/", "globex.io")
    assert response.chunks == [b"0:globex;", b"1:globex;", b"2:globex;"]


def test_file_response_is_read_inside_the_tenant(send, tenants):
    response = send("/file/", "globex.example.com")
    assert response.status_code == 200
    assert response.content == b"globex;globex;globex;"


def test_streaming_public_response_has_no_tenant(send, view, tenants):
    assert send(view("stream"), "example.com").chunks == [b"0:None;", b"1:None;", b"2:None;"]


def test_stream_consumed_inside_another_tenant_restores_it_between_chunks(tenants):
    acme = tenants[0]
    with TenantContext.use_tenant(acme):
        response = Client(headers={"host": "globex.io"}).get("/stream/")
        chunks = []
        for chunk in response.streaming_content:
            assert TenantContext.get_tenant() == acme
            chunks.append(chunk)
        response.close()
        assert TenantContext.get_tenant() == acme
    assert chunks == [b"0:globex;", b"1:globex;", b"2:globex;"]


def test_interleaved_streams_keep_their_own_tenants(tenants):
    first = Client(headers={"host": "shop.acme.io"}).get("/stream/")
    second = Client(headers={"host": "globex.io"}).get("/stream/")
    first_chunks, second_chunks = iter(first.streaming_content), iter(second.streaming_content)
    seen = [next(first_chunks), next(second_chunks), next(first_chunks), next(second_chunks)]
    assert seen == [b"0:acme;", b"0:globex;", b"1:acme;", b"1:globex;"]
    assert TenantContext.get_tenant() is None


def test_abandoned_stream_leaves_no_tenant(tenants):
    response = Client(headers={"host": "shop.acme.io"}).get("/stream/")
    assert next(iter(response.streaming_content)) == b"0:acme;"
    response.close()
    assert TenantContext.get_tenant() is None


def test_exception_in_view_leaves_no_tenant_for_the_next_request(send, view, tenants):
    with pytest.raises(RuntimeError, match="view failed inside acme"):
        send(view("boom"), "shop.acme.io")
    assert TenantContext.get_tenant() is None
    assert send(view("whoami"), "example.com").json()["active"] is None
    assert send(view("whoami"), "globex.io").json()["active"] == "globex"


def test_exception_becomes_a_500_and_leaves_no_tenant(tenants):
    client = Client(headers={"host": "shop.acme.io"}, raise_request_exception=False)
    assert client.get("/boom/").status_code == 500
    assert TenantContext.get_tenant() is None


def test_other_tenant_cannot_be_reached_from_a_tenant_request(tenants):
    acme_hosts = [send_wsgi("/whoami/", "shop.acme.io").json() for _ in range(3)]
    assert all(body["active"] == "acme" for body in acme_hosts)
    assert send_wsgi("/whoami/", "globex.io").json()["active"] == "globex"


# --- urlconfs and the middleware itself -------------------------------------------------


def test_public_and_tenant_urlconfs(send, tenants, settings):
    settings.OMNITENANT_CONFIG = {
        **settings.OMNITENANT_CONFIG,
        "PUBLIC_URLCONF": "tests.urls_public",
        "TENANT_URLCONF": "tests.urls_tenant",
    }
    assert send("/only/", "example.com").content == b"public urlconf"
    assert send("/only/", "shop.acme.io").content == b"tenant urlconf"
    assert send("/whoami/", "acme.example.com").json()["urlconf"] == "tests.urls_tenant"
    assert send("/stream/", "example.com").status_code == 404


def test_middleware_is_sync_and_async_capable():
    assert TenantMiddleware.sync_capable
    assert TenantMiddleware.async_capable

    async def get_response(request):
        return None

    assert iscoroutinefunction(TenantMiddleware(get_response))
    assert not iscoroutinefunction(TenantMiddleware(lambda request: None))
