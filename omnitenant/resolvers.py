"""Resolvers: which tenant a request is for, from its host or its tenant header.

``OMNITENANT_CONFIG["RESOLVERS"]`` lists them as import strings; the middleware asks
each in order and the first tenant returned wins. A resolver returns a tenant, None when
it has no opinion, or raises ``TenantNotFound`` to refuse the request (404).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.module_loading import import_string

from omnitenant import lookup
from omnitenant.conf import get_config
from omnitenant.context import validate_tenant_id
from omnitenant.exceptions import InvalidTenantId, TenantNotFound
from omnitenant.hosts import normalize_host

logger = logging.getLogger(__name__)

_HOST_ATTR = "_omnitenant_host"


def get_request_host(request: HttpRequest) -> str:
    """The request's host, normalised (``request.get_host()``, so ALLOWED_HOSTS applies).

    Raises ``TenantNotFound`` when the host is allowed but is no valid host name.
    """
    host = request.__dict__.get(_HOST_ATTR)
    if host is None:
        host = request.__dict__[_HOST_ATTR] = _checked_host(request)
    return host


# request.get_host() checks ALLOWED_HOSTS anew on every call, which costs a third of what
# the middleware may add to a request. Its answer depends only on the META entries read
# below (see HttpRequest._get_raw_host) and on settings, so Django checks each combination
# once per process, and again after a settings change (setting_changed). Hosts it refuses
# are never remembered. Clients choose what they send: at most RESOLUTION_CACHE_SIZE hosts
# are remembered, as many as there are tenant lookups.
_HOST_SETTINGS = {"ALLOWED_HOSTS", "DEBUG", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT"}
_checked_hosts: dict[tuple[str | None, ...], str] = {}


def _checked_host(request: HttpRequest) -> str:
    if type(request).get_host is not HttpRequest.get_host:  # a project's own rules
        return _normalize_allowed(request.get_host())
    get = request.META.get
    key = (
        get("HTTP_HOST"),
        get("HTTP_X_FORWARDED_HOST"),
        get("HTTP_X_FORWARDED_PORT"),
        get("SERVER_NAME"),
        get("SERVER_PORT"),
    )
    host = _checked_hosts.get(key)
    if host is None:
        host = _normalize_allowed(request.get_host())
        if len(_checked_hosts) >= get_config().resolution_cache_size:
            _checked_hosts.clear()
        _checked_hosts[key] = host
    return host


def _normalize_allowed(raw: str) -> str:
    try:
        return normalize_host(raw)
    except ValueError as exc:
        msg = f"Host {raw!r} is not a valid host name."
        raise TenantNotFound(msg) from exc


@receiver(setting_changed)
def _forget_checked_hosts(*, setting: str, **kwargs: Any) -> None:
    if setting in _HOST_SETTINGS:
        _checked_hosts.clear()


def is_public_host(host: str) -> bool:
    """True for a normalised host listed in PUBLIC_HOSTS (served with no tenant)."""
    return host in get_config().public_hosts


def subdomain_label(host: str) -> str | None:
    """``acme`` for the normalised host ``acme.<BASE_DOMAIN>``; None for any other host."""
    base_domain = get_config().base_domain
    if not base_domain or not host.endswith("." + base_domain):
        return None
    label = host[: -len(base_domain) - 1]
    return None if "." in label else label


def foreign_claim(host: str, tenant_id: str | None) -> str | None:
    """Why the normalised ``host`` cannot be a domain of tenant ``tenant_id``; None if it can.

    The answer names the owner: the public site for PUBLIC_HOSTS, hosts under them and
    BASE_DOMAIN itself (or a parent of either), and tenant ``x`` for ``x.<BASE_DOMAIN>`` and
    every host under it. Only the configuration is read, never the database.
    """
    global _claims
    config = get_config()
    config_seen, claims = _claims
    if config_seen is not config:  # answers are remembered per configuration
        claims = {}
        _claims = (config, claims)
    key = (host, tenant_id)
    claim = claims.get(key, _UNSEEN)
    if claim is _UNSEEN:
        claim = _claim(config, host, tenant_id)
        if len(claims) >= config.resolution_cache_size:
            claims.clear()
        claims[key] = claim
    return claim


_UNSEEN = object()
_claims: tuple[Any, dict[tuple[str, str | None], Any]] = (None, {})


def _claim(config: Any, host: str, tenant_id: str | None) -> str | None:
    base = config.base_domain
    if host in config.public_hosts:
        return f"it is public host {host!r} (PUBLIC_HOSTS), served with no tenant"
    if base and _is_under(base, host):
        where = "is" if host == base else "is a parent of"
        return f"it {where} BASE_DOMAIN {base!r}, whose subdomains are tenant hosts"
    owner = None
    if base and host.endswith("." + base):
        owner = host[: -len(base) - 1].rpartition(".")[2]
    for public in config.public_hosts:
        if _is_under(public, host):
            return f"it is a parent of public host {public!r} (PUBLIC_HOSTS)"
        # A public host at or above BASE_DOMAIN leaves the tenant hosts to the rule below.
        if _is_under(host, public) and not (owner and _is_under(base, public)):
            return f"it lies under public host {public!r} (PUBLIC_HOSTS)"
    if owner is not None and owner != tenant_id:
        where = "is" if host == f"{owner}.{base}" else "lies under"
        return f"it {where} {owner}.{base}, the host of tenant {owner!r}"
    return None


def _is_under(host: str, parent: str | None) -> bool:
    """True when ``host`` is ``parent`` or a host under it."""
    return bool(parent) and (host == parent or host.endswith("." + parent))


def _refuse_inactive(tenant: Any, what: str) -> TenantNotFound:
    return TenantNotFound(f"Tenant {tenant.tenant_id!r} ({what}) is inactive.")


class BaseResolver:
    """Finds the tenant of a request; subclass it and name it in RESOLVERS.

    ``resolve(request)`` returns the tenant, None when this resolver has no opinion (the
    next one is asked), or raises ``TenantNotFound`` to refuse the request. It runs on
    every request: use ``omnitenant.lookup`` so that warm requests make no query.
    """

    def resolve(self, request: HttpRequest) -> Any:
        raise NotImplementedError


class DomainResolver(BaseResolver):
    """The tenant owning the request's host as a custom domain (DOMAIN_MODEL).

    A domain row naming a host that belongs to someone else (see ``foreign_claim``; e.g.
    saved without validation) is not served: on ``x.<BASE_DOMAIN>`` tenant ``x`` is
    resolved as if the row did not exist, and any other such host is refused.
    """

    def resolve(self, request: HttpRequest) -> Any:
        host = get_request_host(request)
        if is_public_host(host):
            return None
        tenant = lookup.tenant_by_domain(host)
        if tenant is None:
            return None
        claim = foreign_claim(host, tenant.tenant_id)
        if claim is not None:
            logger.warning(
                "Domain %r of tenant %r is not served: %s.", host, tenant.tenant_id, claim
            )
            if subdomain_label(host) is not None:
                return None
            msg = f"Domain {host!r} of tenant {tenant.tenant_id!r} is not served: {claim}."
            raise TenantNotFound(msg)
        if not getattr(tenant, "is_active", True):
            raise _refuse_inactive(tenant, f"domain {host!r}")
        return tenant


class SubdomainResolver(BaseResolver):
    """``acme.<BASE_DOMAIN>`` -> tenant ``acme``; only one label deep.

    A label under BASE_DOMAIN that names no active tenant is refused rather than passed
    on, so such a host never falls through to the header or the public site.
    """

    def resolve(self, request: HttpRequest) -> Any:
        host = get_request_host(request)
        label = subdomain_label(host)
        if label is None or is_public_host(host):
            return None
        # A normalised host label has the form of a tenant id (or a reserved one, which
        # no tenant has: the lookup misses).
        tenant = lookup.tenant_by_id(label)
        if tenant is None:
            msg = f"No tenant {label!r} for host {host!r}."
            raise TenantNotFound(msg)
        if not getattr(tenant, "is_active", True):
            raise _refuse_inactive(tenant, f"host {host!r}")
        return tenant


class HeaderResolver(BaseResolver):
    """The tenant named by the TENANT_HEADER request header, when that setting is set.

    A malformed value is refused before any lookup, so junk never reaches the database.
    """

    def resolve(self, request: HttpRequest) -> Any:
        value = get_header_value(request)
        if value is None:
            return None
        try:
            validate_tenant_id(value)
        except InvalidTenantId as exc:
            msg = f"Header {get_config().tenant_header} does not hold a valid tenant id."
            raise TenantNotFound(msg) from exc
        tenant = lookup.tenant_by_id(value)
        if tenant is None:
            msg = f"No tenant {value!r} named by header {get_config().tenant_header}."
            raise TenantNotFound(msg)
        if not getattr(tenant, "is_active", True):
            raise _refuse_inactive(tenant, "header")
        return tenant


def get_header_value(request: HttpRequest) -> str | None:
    """The TENANT_HEADER value sent with the request; None when disabled or absent."""
    header = get_config().tenant_header
    if not header:
        return None
    return request.headers.get(header)


@functools.cache
def load_resolvers(paths: tuple[str, ...]) -> tuple[BaseResolver, ...]:
    """Instances of the resolver classes named by ``paths`` (imported once per tuple)."""
    return tuple(import_string(path)() for path in paths)


_loaded: tuple[Any, tuple[BaseResolver, ...]] = (None, ())


def get_resolvers() -> tuple[BaseResolver, ...]:
    """The resolvers configured in OMNITENANT_CONFIG['RESOLVERS'], in order."""
    global _loaded
    config = get_config()
    loaded_for, resolvers = _loaded
    if loaded_for is not config:  # once per configuration, not per request
        resolvers = load_resolvers(config.resolvers)
        _loaded = (config, resolvers)
    return resolvers
