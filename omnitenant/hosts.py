"""Host names as omnitenant compares them: lower-case, no port, no trailing dot, IDN as punycode."""

from __future__ import annotations

import re

import idna
from django.http.request import split_domain_port

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def normalize_host(host: str) -> str:
    """Return ``host`` normalised, or raise ValueError if it is not a valid host name.

    Internationalised names are converted with UTS #46 non-transitional processing, as
    browsers do (``straße.test`` -> ``xn--strae-oqa.test``). Plain ASCII hosts skip it.
    """
    candidate = host.strip()
    candidate = candidate.lower() if candidate.isascii() else _to_ascii(host, candidate)
    domain, _port = split_domain_port(candidate)
    if not domain or not is_valid_hostname(domain):
        raise ValueError(_invalid(host))
    if "xn--" in domain and _encode(host, domain) != domain:
        raise ValueError(_invalid(host))  # punycode that does not decode to a valid name
    return domain


def _to_ascii(host: str, candidate: str) -> str:
    name, colon, port = candidate.rpartition(":")
    if not (colon and port.isascii() and port.isdigit()):
        name, colon, port = candidate, "", ""
    return _encode(host, name) + colon + port


def _encode(host: str, name: str) -> str:
    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii")
    except ValueError as exc:  # idna.IDNAError is a UnicodeError, a ValueError
        raise ValueError(_invalid(host)) from exc


def _invalid(host: str) -> str:
    return f"{host!r} is not a valid host name"


def is_valid_hostname(name: str) -> bool:
    """True for an already-normalised DNS name such as ``acme.example.com``."""
    if not name or len(name) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))
