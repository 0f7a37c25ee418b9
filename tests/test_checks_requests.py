"""System checks for the request settings: omnitenant.E030-E033 / W030."""

import pytest
from django.conf import settings
from django.test import override_settings

from omnitenant.checks import check_resolvers


def with_config(**changes):
    return override_settings(OMNITENANT_CONFIG={**settings.OMNITENANT_CONFIG, **changes})


def only(messages):
    assert len(messages) == 1, messages
    return messages[0]


def test_default_and_custom_resolvers_are_silent():
    assert check_resolvers() == []
    with with_config(
        RESOLVERS=["tests.test_resolvers.StaticResolver"],
        PUBLIC_URLCONF="tests.urls_public",
        TENANT_URLCONF="tests.urls_tenant",
    ):
        assert check_resolvers() == []


@pytest.mark.parametrize("value", ["omnitenant.resolvers.DomainResolver", [], [3], None])
def test_resolvers_must_be_a_list_of_import_strings(value):
    with with_config(RESOLVERS=value):
        message = only(check_resolvers())
    assert message.id == "omnitenant.E030"
    assert message.msg == (
        f"OMNITENANT_CONFIG['RESOLVERS'] = {value!r} is not a non-empty list of import strings."
    )
    assert message.hint == (
        "Use e.g. ['omnitenant.resolvers.DomainResolver', "
        "'omnitenant.resolvers.SubdomainResolver', 'omnitenant.resolvers.HeaderResolver']."
    )


def test_resolver_that_cannot_be_imported():
    with with_config(RESOLVERS=["omnitenant.resolvers.DomainResolver", "nowhere.Resolver"]):
        message = only(check_resolvers())
    assert message.id == "omnitenant.E031"
    assert message.msg == (
        "OMNITENANT_CONFIG['RESOLVERS'] entry 'nowhere.Resolver' cannot be imported: "
        "No module named 'nowhere'."
    )
    assert message.hint == "Fix the dotted path, e.g. 'omnitenant.resolvers.SubdomainResolver'."


@pytest.mark.parametrize("path", ["omnitenant.resolvers.get_resolvers", "omnitenant.TenantContext"])
def test_resolver_that_is_not_a_resolver_class(path):
    with with_config(RESOLVERS=[path]):
        message = only(check_resolvers())
    assert message.id == "omnitenant.E032"
    assert message.msg == f"OMNITENANT_CONFIG['RESOLVERS'] entry {path!r} is not a resolver class."
    assert message.hint == (
        "Name a subclass of omnitenant.resolvers.BaseResolver that implements resolve(request)."
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("tests.no_such_urls", "No module named 'tests.no_such_urls'"),
        ("tests.settings", "it has no urlpatterns"),
        (42, "it is not a module path"),
    ],
)
@pytest.mark.parametrize("setting", ["PUBLIC_URLCONF", "TENANT_URLCONF"])
def test_urlconf_that_is_not_a_urlconf(setting, value, reason):
    with with_config(**{setting: value}):
        message = only(check_resolvers())
    assert message.id == "omnitenant.E033"
    assert message.msg == (
        f"OMNITENANT_CONFIG[{setting!r}] = {value!r} is not a URLconf module: {reason}."
    )
    assert message.hint == (
        f"Set OMNITENANT_CONFIG[{setting!r}] to a module path with urlpatterns "
        "(like ROOT_URLCONF), or None to use ROOT_URLCONF."
    )


def test_header_without_header_resolver_warns():
    with with_config(
        TENANT_HEADER="X-Tenant-ID", RESOLVERS=["omnitenant.resolvers.DomainResolver"]
    ):
        message = only(check_resolvers())
    assert message.id == "omnitenant.W030"
    assert message.msg == (
        "TENANT_HEADER is set but no HeaderResolver is in RESOLVERS: the header never selects "
        "a tenant, and requests that send it on a public host get a 404."
    )
    assert message.hint == (
        "Add 'omnitenant.resolvers.HeaderResolver' to OMNITENANT_CONFIG['RESOLVERS'], "
        "or set TENANT_HEADER to None."
    )


def test_header_with_header_resolver_is_silent():
    with with_config(TENANT_HEADER="X-Tenant-ID"):
        assert check_resolvers() == []


def test_checks_are_registered():
    from django.core.checks import run_checks

    with with_config(RESOLVERS=["nowhere.Resolver"]):
        ids = [message.id for message in run_checks()]
    assert "omnitenant.E031" in ids


def test_resolution_cache_alias_must_be_in_caches():
    from omnitenant.checks import check_resolution_cache_alias

    assert check_resolution_cache_alias() == []
    with with_config(RESOLUTION_CACHE_ALIAS="stamps"):
        message = only(check_resolution_cache_alias())
    assert message.id == "omnitenant.E034"
    assert message.msg == "OMNITENANT_CONFIG['RESOLUTION_CACHE_ALIAS'] = 'stamps' is not in CACHES."


def test_per_process_resolution_cache_warns_on_deploy_only():
    from django.core.checks import run_checks

    from omnitenant.checks import check_resolution_cache_is_shared

    message = only(check_resolution_cache_is_shared())  # tests run on locmem
    assert message.id == "omnitenant.W031"
    assert "RESOLUTION_CACHE_TTL" in message.msg
    assert "W031" not in {m.id for m in run_checks(include_deployment_checks=False)}
    with with_config(RESOLUTION_CACHE_ALIAS="redis"):
        assert check_resolution_cache_is_shared() == []
