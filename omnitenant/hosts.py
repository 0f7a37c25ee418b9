"""Host names as omnitenant compares them: lower-case, no port, no trailing dot, IDN as punycode."""

from __future__ import annotations

import re

from django.http.request import split_domain_port

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def normalize_host(host: str) -> str:
    """Return ``host`` normalised, or raise ValueError if it is not a valid host name."""
    candidate = host.strip().lower()
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(_invalid(host)) from exc
    domain, _port = split_domain_port(candidate)
    if not domain or not is_valid_hostname(domain):
        raise ValueError(_invalid(host))
    return domain


def _invalid(host: str) -> str:
    return f"{host!r} is not a valid host name"


def is_valid_hostname(name: str) -> bool:
    """True for an already-normalised DNS name such as ``acme.example.com``."""
    if not name or len(name) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))
