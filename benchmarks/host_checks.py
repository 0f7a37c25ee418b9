"""Per-request cost of host normalisation, the domain-claim check and Vary on the header.

Micro-benchmarks of the functions on the request path, in µs per call (median of 7 runs):
  normalize_host    today's (UTS #46 via the idna package, skipped for ASCII hosts) next to
                    the former one (Python's IDNA 2003 codec on every host), for a plain
                    ASCII host, a punycode host and a Unicode host
  foreign_claim     the configuration check made for each request on a custom domain
  vary              vary_on_tenant_header on a response, header enabled and disabled

Requests only normalise a host the first time the process sees it (resolvers remember
checked hosts), so normalize_host bounds the cost of a cold host.

    python benchmarks/host_checks.py
"""

from __future__ import annotations

import statistics
import sys
import timeit
from pathlib import Path

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONFIG = {
    "BASE_DOMAIN": "example.com",
    "PUBLIC_HOSTS": ["example.com", "www.example.com"],
}


def former_normalize_host(host: str) -> str:
    """normalize_host as it was before UTS #46: the stdlib IDNA 2003 codec on every host."""
    from django.http.request import split_domain_port

    from omnitenant.hosts import is_valid_hostname

    candidate = host.strip().lower().encode("idna").decode("ascii")
    domain, _port = split_domain_port(candidate)
    if not domain or not is_valid_hostname(domain):
        raise ValueError(host)
    return domain


def per_call_us(statement, number: int = 20_000) -> float:
    runs = timeit.repeat(statement, number=number, repeat=7)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    settings.configure(ALLOWED_HOSTS=["*"], OMNITENANT_CONFIG=CONFIG, INSTALLED_APPS=[])
    django.setup()
    from django.http import HttpResponse

    from omnitenant.hosts import normalize_host
    from omnitenant.middleware import vary_on_tenant_header
    from omnitenant.resolvers import foreign_claim

    hosts = {
        "ASCII": "Shop.Acme.io:8443",
        "punycode": "xn--strae-oqa.test",
        "Unicode": "straße.test",
    }
    print(f"{'normalize_host':<28}{'today µs':>10}{'former µs':>11}")
    for label, host in hosts.items():
        today = per_call_us(lambda host=host: normalize_host(host))
        former = per_call_us(lambda host=host: former_normalize_host(host))
        print(f"  {label + ' ' + repr(host):<26}{today:>10.2f}{former:>11.2f}")
    claim = per_call_us(lambda: foreign_claim("shop.acme.io", "acme"))
    print(f"{'foreign_claim (custom domain)':<28}{claim:>10.2f}")
    response = HttpResponse()
    disabled = per_call_us(lambda: vary_on_tenant_header(response))
    settings.OMNITENANT_CONFIG = {**CONFIG, "TENANT_HEADER": "X-Tenant-ID"}
    from omnitenant.conf import get_config

    get_config.cache_clear()
    enabled = per_call_us(lambda: vary_on_tenant_header(HttpResponse()), number=5_000)
    baseline = per_call_us(HttpResponse, number=5_000)
    print(f"{'vary, header disabled':<28}{disabled:>10.2f}")
    print(f"{'vary, header enabled':<28}{enabled - baseline:>10.2f}  (HttpResponse() subtracted)")


if __name__ == "__main__":
    main()
