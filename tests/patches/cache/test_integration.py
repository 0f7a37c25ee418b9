"""Django's own cache users (sessions, cache_page, {% cache %}) are isolated by the patch."""

import pytest
from django.contrib.sessions.backends.cache import SessionStore
from django.core.cache import cache
from django.template import Context, Template
from django.test import override_settings

from omnitenant import TenantContext, lookup
from tests.testapp.models import Tenant

use = TenantContext.use_tenant


@pytest.fixture(autouse=True)
def _fresh_default_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cache")
def test_sessions_of_one_tenant_are_invisible_to_another(acme, globex):
    with use(acme):
        session = SessionStore()
        session["user"] = "alice@acme"
        session.save()
        key = session.session_key
        assert SessionStore(key).load() == {"user": "alice@acme"}
    with use(globex):
        assert not SessionStore().exists(key)
        assert SessionStore(key).load() == {}
    assert SessionStore(key).load() == {}
    with use(acme):
        assert SessionStore(key)["user"] == "alice@acme"


@pytest.mark.django_db
@override_settings(
    ROOT_URLCONF="tests.patches.cache.urls",
    MIDDLEWARE=["tests.patches.cache.middleware.HeaderTenantMiddleware"],
)
def test_cache_page_serves_each_tenant_its_own_page(client):
    Tenant.objects.create(tenant_id="acme", name="Acme")
    Tenant.objects.create(tenant_id="globex", name="Globex")
    lookup.invalidate()
    first = client.get("/page/", headers={"X-Tenant": "acme"}).content.decode()
    assert first.startswith("acme render")
    other = client.get("/page/", headers={"X-Tenant": "globex"}).content.decode()
    assert other.startswith("globex render")
    public = client.get("/page/").content.decode()
    assert public.startswith("public render")
    assert client.get("/page/", headers={"X-Tenant": "acme"}).content.decode() == first
    assert client.get("/page/", headers={"X-Tenant": "globex"}).content.decode() == other
    assert client.get("/page/").content.decode() == public


def test_cache_template_tag_is_isolated(acme, globex):
    template = Template("{% load cache %}{% cache 60 greeting %}{{ who }}{% endcache %}")
    with use(acme):
        assert template.render(Context({"who": "acme"})) == "acme"
    with use(globex):
        assert template.render(Context({"who": "globex"})) == "globex"
    assert template.render(Context({"who": "public"})) == "public"
    with use(acme):
        assert template.render(Context({"who": "changed"})) == "acme"
    with use(globex):
        assert template.render(Context({"who": "changed"})) == "globex"
