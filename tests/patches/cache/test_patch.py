"""Patching, unpatching, alias routing, shared aliases, strict mode and django-redis extras."""

import logging
import uuid

import pytest
from django.conf import settings
from django.core import cache as cache_module
from django.core.cache import CacheHandler, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import Error, run_checks
from django.test import override_settings
from django.utils.connection import ConnectionProxy

from omnitenant import TenantContext, lookup
from omnitenant.exceptions import NoTenantActive
from omnitenant.patches.cache import (
    TenantAwareCacheWrapper,
    is_patched,
    patch_django_cache,
    unpatch_django_cache,
)
from tests.patches.cache.conftest import fresh_caches, tenant

use = TenantContext.use_tenant


@pytest.fixture
def unpatched():
    unpatch_django_cache()
    try:
        yield
    finally:
        patch_django_cache()


@pytest.fixture(autouse=True)
def _fresh_default_cache():
    cache.clear()
    yield
    cache.clear()


def test_applied_when_the_app_is_ready():
    assert is_patched()
    assert isinstance(caches, TenantAwareCacheWrapper)


def test_wrapper_built_around_a_handler_is_tenant_aware(acme, globex):
    wrapper = TenantAwareCacheWrapper(CacheHandler())
    with use(acme):
        wrapper["locmem"].set("k", "acme")
        assert wrapper["locmem"].get("k") == "acme"
    with use(globex):
        assert wrapper["locmem"].get("k") is None
    with use(acme):
        wrapper["locmem"].delete("k")


def test_patching_twice_is_harmless(acme, globex):
    patch_django_cache()
    patch_django_cache()
    with use(acme):
        cache.set("k", "acme")
        assert cache.make_key("k") == ":1:acme:k"
    with use(globex):
        assert cache.get("k") is None


@pytest.mark.usefixtures("unpatched")
def test_unpatch_restores_django_exactly(acme, globex):
    assert type(caches) is CacheHandler
    assert type(cache) is ConnectionProxy
    assert type(caches["default"]) is LocMemCache
    with use(acme):
        assert cache.make_key("k") == ":1:k"
        cache.set("k", "acme")
    with use(globex):
        assert cache.get("k") == "acme"  # Django's behaviour: no isolation
    with pytest.raises(TypeError):
        cache["k"]


def test_reference_taken_before_the_patch_becomes_tenant_aware(unpatched, acme, globex):
    early_cache, early_caches = cache_module.cache, cache_module.caches
    early_cache.set("k", "public")
    patch_django_cache()
    with use(acme):
        early_cache.set("k", "acme")
        early_cache["d"] = 1
        assert early_caches["default"].get("k") == "acme"
    with use(globex):
        assert early_cache.get("k") is None
        assert "d" not in early_cache
    assert early_cache.get("k") == "public"


def test_dict_style_on_the_default_cache_proxy(acme, globex):
    with use(acme):
        cache["k"] = None
        assert "k" in cache
        assert cache["k"] is None
        assert cache["absent"] is None
        cache["x"] = "acme"
        del cache["x"]
        with pytest.raises(KeyError):
            del cache["x"]
        cache["x"] = "acme"
    with use(globex):
        assert "k" not in cache
        assert cache["x"] is None
        with pytest.raises(KeyError):
            del cache["x"]
    with use(acme):
        assert cache["x"] == "acme"


def test_caches_default_returns_a_cache_object():
    assert isinstance(caches["default"], LocMemCache)
    assert caches["default"] is caches["default"]
    assert isinstance(caches["locmem"], LocMemCache)


# --- alias routing ---


def test_tenant_cache_alias_routes_the_default_cache(globex):
    dedicated = tenant("acme", cache_alias="locmem")
    with use(dedicated):
        assert caches["default"] is caches["locmem"]
        cache.set("k", "acme")
        assert caches["locmem"].make_key("k") == ":1:acme:k"
    assert caches["locmem"].get("acme:k") == "acme"
    assert caches["default"].get("acme:k") is None
    with use(globex):
        assert caches["default"] is not caches["locmem"]
        assert cache.get("k") is None
    # Two tenants sent to one dedicated cache by mistake stay apart.
    with use(tenant("initech", cache_alias="locmem")):
        assert cache.get("k") is None
    caches["locmem"].clear()


def test_missing_cache_alias_falls_back_with_one_warning(caplog):
    name = f"missing-{uuid.uuid4().hex[:6]}"
    with caplog.at_level(logging.WARNING, logger="omnitenant.patches.cache"):
        with use(tenant("acme", cache_alias=name)):
            assert caches["default"] is caches.all()[0]
            cache.set("k", "acme")
            assert cache.get("k") == "acme"
        with use(tenant("globex", cache_alias=name)):
            assert cache.get("k") is None
    warnings = [r for r in caplog.records if name in r.getMessage()]
    assert len(warnings) == 1
    assert "not in CACHES" in warnings[0].getMessage()


def test_other_aliases_are_used_as_named():
    with use(tenant("acme", cache_alias="locmem")):
        assert caches["shared"] is not caches["locmem"]
        assert caches.all(initialized_only=True).count(caches["locmem"]) == 1


def test_shared_alias_is_not_isolated(acme, globex):
    with use(acme):
        caches["shared"].set("k", "acme")
        assert caches["shared"].make_key("k") == ":1:k"
        caches["shared"]["d"] = 1
    with use(globex):
        assert caches["shared"].get("k") == "acme"
        assert caches["shared"]["d"] == 1
    caches["shared"].clear()


@pytest.fixture
def shared_redis(tmp_path):
    """A Redis alias with TENANT_ISOLATION False, under a fresh prefix."""
    entry = {**fresh_caches("redis", tmp_path)["redis"], "TENANT_ISOLATION": False}
    with override_settings(CACHES={**fresh_caches("redis", tmp_path), "shared_redis": entry}):
        yield caches["shared_redis"]
        with use(None):
            caches["shared_redis"].clear()


def test_routing_to_a_shared_alias_keeps_the_tenant_prefix(shared_redis, caplog):
    acme = tenant("acme", cache_alias="shared_redis")
    globex = tenant("globex", cache_alias="shared_redis")
    with caplog.at_level(logging.WARNING, logger="omnitenant.patches.cache"):
        with use(acme):
            cache.set("k", "acme")
            cache.set("gone", 1)
            assert cache.make_key("k").endswith(":acme:k")
        with use(globex):
            assert cache.get("k") is None
            cache.set("k", "globex")
            cache.clear()  # globex's own entries only
            assert cache.get("k") is None
        with use(acme):
            assert cache.get("k") == "acme"
    assert shared_redis.get("k") is None
    assert shared_redis.get("acme:k") == "acme"
    warnings = [r.getMessage() for r in caplog.records if "shared_redis" in r.getMessage()]
    assert len(warnings) == 1
    assert "'TENANT_ISOLATION': False" in warnings[0]


def test_explicit_shared_alias_stays_shared_for_a_routed_tenant(shared_redis):
    with use(tenant("acme", cache_alias="shared_redis")):
        assert caches["default"] is not shared_redis
        shared_redis.set("session", "for everyone")
    with use(tenant("globex")):
        assert caches["shared_redis"].get("session") == "for everyone"


def test_close_all_closes_routed_backends(tmp_path):
    entry = {**fresh_caches("memcached", tmp_path)["memcached"], "TENANT_ISOLATION": False}
    with override_settings(CACHES={**settings.CACHES, "shared_memcached": entry}):
        with use(tenant("acme", cache_alias="shared_memcached")):
            cache.set("k", 1)
            routed = caches["default"]
            (client,) = routed._cache.clients.values()
            assert client.sock is not None
        caches.close_all()
        assert client.sock is None


# --- strict mode ---


@pytest.fixture
def strict(settings):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "CACHE_STRICT": True}


@pytest.mark.usefixtures("strict")
def test_strict_mode_refuses_cache_use_with_no_tenant(acme):
    for operation in (
        lambda: cache.get("k"),
        lambda: cache.set("k", 1),
        lambda: cache.get_many(["k"]),
        lambda: cache["k"],
        lambda: "k" in cache,
        lambda: cache.clear(),
    ):
        with pytest.raises(NoTenantActive, match="CACHE_STRICT"):
            operation()
    with use(None), pytest.raises(NoTenantActive):
        cache.get("k")
    with use(acme):
        cache.set("k", 1)
        assert cache.get("k") == 1
    caches["shared"].set("k", "shared")  # an alias with TENANT_ISOLATION False
    assert caches["shared"].get("k") == "shared"
    caches["shared"].clear()


@pytest.mark.usefixtures("strict")
def test_strict_mode_allows_omnitenant_bookkeeping(acme):
    cache.set("_omnitenant:x", 1)
    assert cache.get("_omnitenant:x") == 1
    lookup.invalidate()
    assert cache.get(lookup.STAMP_KEY) is not None
    with use(acme):
        # Inside a tenant the reserved prefix is prefixed like any key.
        assert cache.make_key("_omnitenant:x") == ":1:acme:_omnitenant:x"
        assert cache.get("_omnitenant:x") is None


@pytest.mark.django_db
@pytest.mark.usefixtures("strict")
def test_strict_mode_keeps_tenant_lookups_working():
    lookup.invalidate()
    assert lookup.tenant_by_id("nobody") is None


# --- methods nobody listed ---


@override_settings(
    CACHES={"default": {"BACKEND": "tests.patches.cache.backends.ExtendedLocMemCache"}}
)
def test_unknown_key_taking_method_is_isolated(acme, globex):
    with use(acme):
        cache.set("k", "acme")
    with use(globex):
        assert cache.get_and_delete("k") is None
    with use(acme):
        assert cache.get_and_delete("k") == "acme"
        assert cache.get("k") is None


# --- django-redis extras ---


@pytest.fixture
def redis_cache(tmp_path):
    with override_settings(CACHES=fresh_caches("django_redis", tmp_path)):
        yield caches["django_redis"]


def test_django_redis_keys_patterns_and_ttls(redis_cache, acme, globex):
    with use(acme):
        redis_cache.set_many({"user:1": 1, "user:2": 2, "other": 3})
    with use(globex):
        redis_cache.set_many({"user:9": 9, "acme:user:1": "fake"})
        assert sorted(redis_cache.keys("user:*")) == ["user:9"]
        assert redis_cache.delete_pattern("user:*") == 1
        assert redis_cache.ttl("other") == 0
        assert not redis_cache.expire("other", 100)
        assert not redis_cache.persist("other")
    with use(acme):
        assert sorted(redis_cache.keys("user:*")) == ["user:1", "user:2"]
        assert sorted(redis_cache.iter_keys("*")) == ["other", "user:1", "user:2"]
        assert redis_cache.expire("other", 100)
        assert 0 < redis_cache.ttl("other") <= 100
        assert redis_cache.persist("other")
        assert redis_cache.ttl("other") is None
        assert redis_cache.delete_pattern("user:*") == 2
        assert redis_cache.keys("*") == ["other"]
    with use(globex):
        assert redis_cache.get("acme:user:1") == "fake"


def test_django_redis_key_objects_as_patterns_stay_in_the_tenant(redis_cache, acme, globex):
    from django_redis.util import CacheKey

    with use(globex):
        redis_cache.set("g", "globex")
    with use(acme):
        redis_cache.set("a", "acme")
        assert redis_cache.keys(CacheKey("*")) == ["a"]
        assert redis_cache.delete_pattern(CacheKey("*")) == 1
    with use(globex):
        assert redis_cache.get("g") == "globex"


def test_django_redis_lock_and_sets_are_isolated(redis_cache, acme, globex):
    with use(acme):
        lock = redis_cache.lock("job", timeout=5)
        assert lock.acquire(blocking=False)
        redis_cache.sadd("members", "alice")
    with use(globex):
        other = redis_cache.lock("job", timeout=5)
        assert other.acquire(blocking=False)  # a different lock: no tenant blocks another
        other.release()
        assert redis_cache.smembers("members") == set()
    with use(acme):
        assert not redis_cache.lock("job", timeout=5).acquire(blocking=False)
        lock.release()
        assert redis_cache.smembers("members") == {"alice"}


# --- checks ---


def _cache_errors():
    return [
        m for m in run_checks() if m.id in {"omnitenant.E020", "omnitenant.E021", "omnitenant.E022"}
    ]


def test_check_tenant_isolation_must_be_a_boolean(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "TENANT_ISOLATION": "no"}}
    assert _cache_errors() == [
        Error(
            "CACHES['default']['TENANT_ISOLATION'] = 'no' is not a boolean.",
            hint="Use False for a cache shared by all tenants, or remove the key "
            "(tenant isolation is on by default).",
            id="omnitenant.E020",
        )
    ]


def test_check_version_must_not_contain_the_separator(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "VERSION": "1:x"},
    }
    assert _cache_errors() == [
        Error(
            "CACHES['default']['VERSION'] = '1:x' contains ':', which would move keys into "
            "another tenant's segment; every cache operation inside a tenant refuses it.",
            hint="Use an integer VERSION (or a string without ':').",
            id="omnitenant.E022",
        )
    ]


def test_check_cache_strict_must_be_a_boolean(settings):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "CACHE_STRICT": "yes"}
    assert _cache_errors() == [
        Error(
            "OMNITENANT_CONFIG['CACHE_STRICT'] = 'yes' is not a boolean.",
            hint="Set OMNITENANT_CONFIG['CACHE_STRICT'] to True (cache use with no tenant "
            "raises NoTenantActive) or False.",
            id="omnitenant.E021",
        )
    ]


def test_checks_pass_on_the_test_settings():
    assert _cache_errors() == []
