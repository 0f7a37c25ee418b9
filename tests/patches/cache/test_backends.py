"""One behaviour suite, run on all six backends against their real servers."""

import warnings

import pytest
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache, CacheKeyWarning, InvalidCacheKey
from django.core.cache.backends.memcached import BaseMemcachedCache

from omnitenant import TenantContext
from omnitenant.exceptions import InvalidCacheVersion
from tests.patches.cache.conftest import BACKENDS, LISTING, _backend_param

use = TenantContext.use_tenant

try:
    from django_redis.util import CacheKey
except ImportError:  # pragma: no cover - django-redis is a test dependency
    CacheKey = str


def test_set_get_do_not_cross_tenants(backend, acme, globex):
    with use(acme):
        backend.set("config", {"theme": "dark"})
    with use(globex):
        assert backend.get("config") is None
        backend.set("config", "globex")
    assert backend.get("config") is None
    with use(acme):
        assert backend.get("config") == {"theme": "dark"}
    with use(globex):
        assert backend.get("config") == "globex"


def test_no_tenant_values_are_invisible_to_tenants(backend, acme):
    backend.set("public", "no tenant")
    with use(acme):
        assert backend.get("public") is None
        assert not backend.has_key("public")
        assert not backend.delete("public")
    assert backend.get("public") == "no tenant"


def test_keys_given_by_keyword_are_isolated(backend, acme, globex):
    with use(acme):
        backend.set(key="kw", value=1)
        assert backend.get(key="kw") == 1
    with use(globex):
        assert backend.get(key="kw") is None
        assert backend.get("kw", default="absent") == "absent"


def test_add_delete_has_key_touch_per_tenant(backend, acme, globex):
    with use(acme):
        assert backend.add("k", "acme")
        assert not backend.add("k", "again")
    with use(globex):
        assert not backend.has_key("k")
        assert backend.add("k", "globex")
        assert not backend.touch("missing", 60)
        assert backend.touch("k", 60)
        assert backend.delete("k")
        assert not backend.delete("k")
    with use(acme):
        assert backend.has_key("k")
        assert backend.get("k") == "acme"


def test_incr_decr_per_tenant(backend, acme, globex):
    with use(acme):
        backend.set("n", 10)
        assert backend.incr("n") == 11
    with use(globex):
        with pytest.raises(ValueError, match="not found"):
            backend.incr("n")
        backend.set("n", 100)
        assert backend.decr("n", 5) == 95
    with use(acme):
        assert backend.decr("n") == 10


def test_get_or_set_per_tenant(backend, acme, globex):
    with use(acme):
        assert backend.get_or_set("g", "acme") == "acme"
    with use(globex):
        assert backend.get_or_set("g", lambda: "globex") == "globex"
    with use(acme):
        assert backend.get_or_set("g", "other") == "acme"


def test_get_many_does_not_cross_tenants(backend, acme, globex):
    with use(acme):
        assert not backend.set_many({"a": 1, "b": 2, "c": None})
    with use(globex):
        backend.set("b", "globex")
        assert backend.get_many(["a", "b", "c"]) == {"b": "globex"}
        backend.delete_many(["a", "b", "c"])
        assert backend.get_many(["b"]) == {}
    with use(acme):
        assert backend.get_many(["a", "b", "c"]) == {"a": 1, "b": 2, "c": None}
        backend.delete_many(["a", "b"])
        assert backend.get_many(["a", "b", "c"]) == {"c": None}
    assert backend.get_many(["a", "b", "c"]) == {}


def test_versions_per_tenant(backend, acme, globex):
    with use(acme):
        backend.set("v", "acme", version=1)
        assert backend.incr_version("v") == 2
        assert backend.get("v", version=2) == "acme"
    with use(globex):
        assert backend.get("v", version=2) is None
        with pytest.raises(ValueError, match="not found"):
            backend.incr_version("v")
    with use(acme):
        assert backend.decr_version("v", version=2) == 1
        assert backend.get("v") == "acme"


def test_make_key_is_the_key_used(backend, acme):
    raw = backend.make_key("k")
    with use(acme):
        key = backend.make_key("k")
        backend.set("k", "acme")
    assert key != raw
    segment = key.split(":")[-2]
    if backend._omnitenant_layout == "exact":
        assert segment == "acme"
    else:
        assert segment.startswith("acme.")
    # Outside any tenant, the logical key "{segment}:k" is what acme stored as "k".
    assert backend.make_key(f"{segment}:k") == key
    assert backend.get(f"{segment}:k") == "acme"


def test_exact_layout_on_backends_that_list_keys(backend, acme, alias):
    with use(acme):
        backend.set("k", "acme")
    if alias in LISTING:
        assert backend.get("acme:k") == "acme"
    else:
        assert backend.get("acme:k") is None


def test_colon_in_a_key_cannot_reach_another_tenant(backend, acme, globex):
    with use(acme):
        backend.set("globex:secret", "acme wrote this")
    with use(globex):
        assert backend.get("secret") is None
        assert backend.get("globex:secret") is None
        backend.set("secret", "globex")
    with use(acme):
        assert backend.get("secret") is None
        assert backend.get("globex:secret") == "acme wrote this"


def test_dict_style_access(backend, acme, globex):
    with use(acme):
        backend["k"] = "v"
        backend["none"] = None
        assert backend["k"] == "v"
        assert backend["absent"] is None
        assert "none" in backend
        assert "absent" not in backend
        del backend["k"]
        assert "k" not in backend
        with pytest.raises(KeyError):
            del backend["k"]
        backend["k"] = "acme"
    with use(globex):
        assert "none" not in backend
        assert backend["k"] is None
        with pytest.raises(KeyError):
            del backend["k"]
    with use(acme):
        assert backend["k"] == "acme"


def test_clear_inside_a_tenant_keeps_other_tenants(backend, acme, globex, alias):
    with use(acme):
        backend.set_many({"a": 1, "b": 2})
        backend.set("old", "acme", version=7)
    with use(globex):
        backend.set_many({"a": "g", "acme:a": "g2"})
    if alias != "memcached":  # a no-tenant key would need a global flush_all to clean up
        backend.set("a", "public")
    with use(acme):
        backend.clear()
        assert backend.get_many(["a", "b"]) == {}
        assert backend.get("old", version=7) is None
        backend.set("a", "after clear")
    with use(globex):
        assert backend.get_many(["a", "acme:a"]) == {"a": "g", "acme:a": "g2"}
    with use(acme):
        assert backend.get("a") == "after clear"
    if alias != "memcached":
        assert backend.get("a") == "public"


# memcached is shared with other test runs: a no-tenant clear() there is a global flush_all.
@pytest.mark.parametrize(
    "alias", [_backend_param(b) for b in BACKENDS if b != "memcached"], indirect=True
)
def test_clear_outside_any_tenant_clears_everything(backend, acme, alias):
    with use(acme):
        backend.set("a", 1)
    backend.set("b", 2)
    backend.clear()
    assert backend.get("b") is None
    with use(acme):
        assert backend.get("a") is None


@pytest.mark.usefixtures("async_connections")
async def test_async_twins_are_isolated(backend, acme, globex):
    async with use(acme):
        await backend.aset("k", "acme")
        assert await backend.aadd("n", 1)
        assert await backend.aincr("n") == 2
        assert await backend.adecr("n") == 1
        await backend.aset_many({"m1": 1, "m2": 2})
        assert await backend.aget_or_set("g", "acme") == "acme"
        assert await backend.atouch("k", 60)
        await backend.aset("v", "acme")
        assert await backend.aincr_version("v") == 2
    async with use(globex):
        assert await backend.aget("k") is None
        assert not await backend.ahas_key("n")
        assert await backend.aget_many(["m1", "m2"]) == {}
        assert await backend.aget_or_set("g", "globex") == "globex"
        assert not await backend.adelete("k")
        await backend.adelete_many(["m1", "m2"])
        assert not await backend.atouch("k", 60)
        assert await backend.aget("v", version=2) is None
        await backend.aset("x", "globex")
    async with use(acme):
        assert await backend.aget("k") == "acme"
        assert await backend.aget_many(["m1", "m2"]) == {"m1": 1, "m2": 2}
        assert await backend.adecr_version("v", version=2) == 1
        assert await backend.aget("v") == "acme"
        await backend.aclear()
        assert await backend.aget("k") is None
    async with use(globex):
        assert await backend.aget("x") == "globex"
        assert await backend.aget("g") == "globex"


def test_caches_returns_a_cache_object_per_alias(alias, acme):
    with use(acme):
        backend = caches[alias]
        assert hasattr(backend, "get")
        assert caches[alias] is backend
        assert caches["default"] is not backend


def _django_verdict(validate, key):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            validate(key)
        except InvalidCacheKey as exc:
            return ("raised", str(exc))
    return ("warned", [str(w.message) for w in caught])


@pytest.mark.parametrize(
    "key", ["fine-key", "with space", "tab\tkey", "del\x7fkey", "x" * 260, "ünïcode"]
)
def test_key_validation_is_djangos(backend, acme, key):
    django_class = type(backend).__bases__[-1]  # TenantAware<Backend>(..., Backend)
    with use(acme):
        made = backend.make_key(key)
        ours = _django_verdict(backend.validate_key, made)
        theirs = _django_verdict(lambda k: django_class.validate_key(backend, k), made)
    assert ours == theirs
    if (
        key != "fine-key"
        and key != "ünïcode"
        and django_class.validate_key
        in (
            BaseCache.validate_key,
            BaseMemcachedCache.validate_key,
        )
    ):
        assert ours != ("warned", [])  # the check really ran


def test_bad_key_still_warns_through_an_operation(acme):
    with use(acme), pytest.warns(CacheKeyWarning, match="key with space"):
        caches["locmem"].set("key with space", 1)


@pytest.mark.parametrize("version", ["1:globex", "x:y", b"1:globex"], ids=["str", "str2", "bytes"])
def test_version_containing_the_separator_is_refused(backend, acme, globex, version):
    with use(acme):
        for operation in (
            lambda: backend.set("acme:k", "forged", version=version),
            lambda: backend.get("acme:k", version=version),
            lambda: backend.get_many(["acme:k"], version=version),
            lambda: backend.make_key("acme:k", version=version),
        ):
            with pytest.raises(InvalidCacheVersion, match="contains ':'") as caught:
                operation()
            assert isinstance(caught.value, InvalidCacheKey)
    with use(globex):
        assert backend.get("acme:k") is None


def test_string_versions_without_the_separator_work(backend, acme, globex):
    with use(acme):
        backend.set("k", "acme", version="v2")
        assert backend.get("k", version="v2") == "acme"
    with use(globex):
        assert backend.get("k", version="v2") is None


def test_a_key_object_cannot_reach_another_tenant(backend, acme, globex, alias):
    with use(globex):
        backend.set("secret", "globex")
        # django-redis' client makes CacheKey objects and takes them back as they are.
        made = (backend.client if alias == "django_redis" else backend).make_key("secret")
    with use(acme):
        assert backend.get(CacheKey(made)) is None
        assert backend.get(made) is None
        assert not backend.has_key(made)
        assert backend.get_many([made]) == {}
        assert not backend.delete(made)
        backend.set(made, "acme")
        assert backend.get(made) == "acme"
    with use(globex):
        assert backend.get("secret") == "globex"
        if alias == "django_redis":  # a CacheKey made in this tenant is used as made
            assert backend.get(made) == "globex"
