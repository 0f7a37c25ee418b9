import logging

import pytest
from django.conf import settings
from django.test import override_settings

from omnitenant import checks
from omnitenant.conf import get_config

GOOD_MIDDLEWARE = [
    "omnitenant.middleware.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
GOOD_ROUTERS = ["omnitenant.routers.TenantRouter"]


ALL_CHECKS = [
    checks.check_config_keys,
    checks.check_models,
    checks.check_middleware_and_router,
    checks.check_cache_patch,
    checks.check_hosts_and_header,
]


def omnitenant_messages():
    return [message for check in ALL_CHECKS for message in check()]


def config(**changes):
    merged = {**settings.OMNITENANT_CONFIG, **changes}
    return {key: value for key, value in merged.items() if value is not ...}


@pytest.fixture(autouse=True)
def good_settings():
    with override_settings(MIDDLEWARE=GOOD_MIDDLEWARE, DATABASE_ROUTERS=GOOD_ROUTERS):
        yield


def only(messages):
    assert len(messages) == 1, messages
    return messages[0]


def test_good_configuration_is_silent():
    assert omnitenant_messages() == []


def test_missing_config():
    with override_settings():
        del settings.OMNITENANT_CONFIG
        messages = omnitenant_messages()
    assert "omnitenant.E012" in {m.id for m in messages}
    message = next(m for m in messages if m.id == "omnitenant.E012")
    assert message.msg == "OMNITENANT_CONFIG is not set."


@pytest.mark.parametrize(
    ("setting", "value", "check_id", "text"),
    [
        ("TENANT_MODEL", ..., "omnitenant.E001", "OMNITENANT_CONFIG['TENANT_MODEL'] is not set."),
        (
            "TENANT_MODEL",
            "nope.Tenant",
            "omnitenant.E001",
            "OMNITENANT_CONFIG['TENANT_MODEL'] = 'nope.Tenant' does not name an installed model.",
        ),
        (
            "DOMAIN_MODEL",
            "testapp",
            "omnitenant.E002",
            "OMNITENANT_CONFIG['DOMAIN_MODEL'] = 'testapp' does not name an installed model.",
        ),
        (
            "TENANT_MODEL",
            "testapp.NotATenant",
            "omnitenant.E003",
            "testapp.NotATenant does not subclass omnitenant.models.BaseTenant.",
        ),
        (
            "DOMAIN_MODEL",
            "testapp.Tenant",
            "omnitenant.E004",
            "testapp.Tenant does not subclass omnitenant.models.BaseDomain.",
        ),
    ],
)
def test_model_checks(setting, value, check_id, text):
    with override_settings(OMNITENANT_CONFIG=config(**{setting: value})):
        message = only(omnitenant_messages())
    assert (message.id, message.msg) == (check_id, text)
    assert setting in message.hint or "inherit from" in message.hint


def test_unknown_key_warns_with_suggestion():
    with override_settings(OMNITENANT_CONFIG=config(TENANT_HEADERS="X-Tenant")):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.W001"
    assert message.msg == "Unknown OMNITENANT_CONFIG key 'TENANT_HEADERS'."
    assert message.hint == "Did you mean 'TENANT_HEADER'?"


def test_middleware_missing():
    with override_settings(MIDDLEWARE=GOOD_MIDDLEWARE[1:]):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E005"
    assert "first entry of MIDDLEWARE" in message.hint


def test_middleware_not_first():
    with override_settings(MIDDLEWARE=list(reversed(GOOD_MIDDLEWARE))):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E006"
    assert (
        message.msg
        == "omnitenant.middleware.TenantMiddleware is not the first entry of MIDDLEWARE."
    )


def test_router_missing():
    with override_settings(DATABASE_ROUTERS=[]):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E007"
    assert message.hint == "Add 'omnitenant.routers.TenantRouter' to DATABASE_ROUTERS."


def test_cache_patch_without_caches():
    with override_settings(CACHES={}):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E008"
    assert "CACHES['default']" in message.hint


def test_cache_patch_disabled_without_caches_is_fine():
    with override_settings(CACHES={}, OMNITENANT_CONFIG=config(PATCHES={"cache": False})):
        assert omnitenant_messages() == []


def test_patches_must_be_booleans():
    with override_settings(OMNITENANT_CONFIG=config(PATCHES={"cache": "yes"})):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E013"


@pytest.mark.parametrize(
    "value", ["https://example.com", "example.com:8000", "*.example.com", "Example.com", 3]
)
def test_malformed_base_domain(value):
    with override_settings(OMNITENANT_CONFIG=config(BASE_DOMAIN=value)):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E009"
    assert message.msg == f"OMNITENANT_CONFIG['BASE_DOMAIN'] = {value!r} is not a valid host name."


@pytest.mark.parametrize(
    ("value", "bad"),
    [(["example.com", "bad host"], "bad host"), (["example.com."], "example.com.")],
)
def test_malformed_public_hosts(value, bad):
    with override_settings(OMNITENANT_CONFIG=config(PUBLIC_HOSTS=value)):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E010"
    assert repr(bad) in message.msg


def test_public_hosts_must_be_a_list():
    with override_settings(OMNITENANT_CONFIG=config(PUBLIC_HOSTS="example.com")):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E010"
    assert "is not a list" in message.msg


@pytest.mark.parametrize("value", ["X Tenant", "X-Tenant:", "", "Tenant\n"])
def test_invalid_tenant_header(value):
    with override_settings(OMNITENANT_CONFIG=config(TENANT_HEADER=value)):
        message = only(omnitenant_messages())
    assert message.id == "omnitenant.E011"
    assert "X-Tenant-ID" in message.hint


def test_valid_tenant_header_is_silent():
    with override_settings(OMNITENANT_CONFIG=config(TENANT_HEADER="X-Tenant-ID")):
        assert omnitenant_messages() == []


def test_config_is_read_once_and_reset_by_override_settings():
    first = get_config()
    assert get_config() is first
    with override_settings(OMNITENANT_CONFIG=config(TENANT_HEADER="X-Tenant-ID")):
        assert get_config().tenant_header == "X-Tenant-ID"
        assert get_config().patches == {"cache": True}
    assert get_config().tenant_header is None


# One rule per key: the check reports a wrong value and get_config() never uses it as given.


def run_check_ids():
    from django.core.checks import run_checks

    return [message.id for message in run_checks() if message.id.startswith("omnitenant.")]


def test_every_key_has_a_rule():
    from omnitenant.conf import DEFAULTS, RULES

    assert set(RULES) == set(DEFAULTS)


def test_a_lone_public_host_string_matches_that_host_only():
    from omnitenant.resolvers import is_public_host

    with override_settings(OMNITENANT_CONFIG=config(PUBLIC_HOSTS="example.com")):
        assert is_public_host("ample.com") is False
        assert is_public_host("e.com") is False
        assert is_public_host("example.com") is True
        assert get_config().public_hosts == ("example.com",)
        assert "omnitenant.E010" in run_check_ids()


@pytest.mark.parametrize(
    ("key", "value", "read"),
    [
        ("TENANT_MODEL", 5, None),
        ("BASE_DOMAIN", "Example.com", None),
        ("PUBLIC_HOSTS", ["example.com", "bad host", 3], ()),
        ("PUBLIC_HOSTS", 3, ()),
        ("TENANT_HEADER", 1, None),
        ("TENANT_HEADER", ["X-Tenant-ID"], None),
        ("PATCHES", {"cache": "no"}, {"cache": True}),
        ("PATCHES", ["cache"], {"cache": True}),
        ("CACHE_STRICT", "false", True),
        ("CACHE_STRICT", 0, True),
        (
            "RESOLVERS",
            "omnitenant.resolvers.SubdomainResolver",
            ("omnitenant.resolvers.SubdomainResolver",),
        ),
        ("RESOLUTION_CACHE_SIZE", "100", 10_000),
        ("RESOLUTION_CACHE_SIZE", True, 10_000),
        ("RESOLUTION_CACHE_SIZE", 0, 10_000),
        ("RESOLUTION_CACHE_TTL", "5", 60),
        ("RESOLUTION_CACHE_TTL", -1, 60),
        ("RESOLUTION_CACHE_ALIAS", ["default"], "default"),
        ("TENANT_APPS", "tenantapp", ("tenantapp",)),
        ("SHARED_APPS", 3, None),
        ("TENANT_DATABASE", "sqlite", None),
        ("CELERY_TENANT_NOT_FOUND", "drop", "fail"),
    ],
)
def test_a_wrong_value_is_reported_and_read_safely(key, value, read, caplog):
    from omnitenant.conf import RULES

    logger = logging.getLogger("omnitenant.conf")
    # An earlier test's logging setup (e.g. a Celery worker's) may have raised the level,
    # disabled the logger or stopped propagation.
    disabled, logger.disabled = logger.disabled, False
    logger.addHandler(caplog.handler)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="omnitenant.conf"),
            override_settings(OMNITENANT_CONFIG=config(**{key: value})),
        ):
            assert getattr(get_config(), key.lower()) == read
            assert RULES[key].check_id in run_check_ids()
    finally:
        logger.removeHandler(caplog.handler)
        logger.disabled = disabled
    if not RULES[key].accepts(read):
        return
    assert f"OMNITENANT_CONFIG[{key!r}] = {value!r} is invalid ({RULES[key].check_id}" in (
        caplog.text
    )


def test_tenant_apps_without_a_safe_reading_is_refused_and_still_checked():
    from omnitenant.exceptions import ConfigurationError

    with override_settings(OMNITENANT_CONFIG=config(TENANT_APPS=5)):
        with pytest.raises(ConfigurationError) as info:
            get_config()
        assert "omnitenant.E040" in run_check_ids()
    assert str(info.value) == (
        "OMNITENANT_CONFIG['TENANT_APPS'] = 5 is invalid and has no safe reading; "
        "run manage.py check for the fix (omnitenant.E040)."
    )


def test_a_model_setting_that_is_not_a_string_is_reported():
    with override_settings(OMNITENANT_CONFIG=config(TENANT_MODEL=5)):
        message = only(checks.check_models())
    assert message.id == "omnitenant.E001"
    assert message.msg == (
        "OMNITENANT_CONFIG['TENANT_MODEL'] = 5 does not name an installed model."
    )


@pytest.mark.parametrize(
    ("key", "value", "check_id", "text", "hint"),
    [
        (
            "RESOLUTION_CACHE_SIZE",
            "100",
            "omnitenant.E014",
            "OMNITENANT_CONFIG['RESOLUTION_CACHE_SIZE'] = '100' is not a whole number of at "
            "least 1.",
            "Set it to how many host lookups each process keeps, e.g. 10000.",
        ),
        (
            "RESOLUTION_CACHE_TTL",
            None,
            "omnitenant.E015",
            "OMNITENANT_CONFIG['RESOLUTION_CACHE_TTL'] = None is not a number of seconds.",
            "Set it to the longest a process may serve a lookup without reading it again, "
            "e.g. 60 (an int or float, 0 or more).",
        ),
    ],
)
def test_resolution_cache_numbers(key, value, check_id, text, hint):
    from django.core.checks import run_checks

    with override_settings(OMNITENANT_CONFIG=config(**{key: value})):
        [message] = [m for m in run_checks() if m.id.startswith("omnitenant.")]
    assert (message.id, message.msg, message.hint) == (check_id, text, hint)


def test_resolution_cache_alias_that_is_not_a_string_is_reported():
    from django.core.checks import run_checks

    with override_settings(OMNITENANT_CONFIG=config(RESOLUTION_CACHE_ALIAS=["default"])):
        [message] = [m for m in run_checks() if m.id.startswith("omnitenant.")]
    assert message.id == "omnitenant.E034"
    assert message.msg == (
        "OMNITENANT_CONFIG['RESOLUTION_CACHE_ALIAS'] = ['default'] is not in CACHES."
    )
