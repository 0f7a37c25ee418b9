"""Per-call cost of TenantFilter and of the TenantStorage wrapper (no database needed).

Run from the repository root:

    python benchmarks/storage_logging.py [--calls 200000]

Each row is the best of 5 runs of ``--calls`` calls, inside a tenant. "overhead" is the
difference to the same call without omnitenant (no filter; the wrapped storage itself).
TenantTestCase setup time is not measured here (see docs/storage.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django


def best(function, calls: int) -> float:
    """Best-of-5 seconds per call."""
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        timings.append((time.perf_counter() - start) / calls)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    django.setup()

    from django.core.files.storage import FileSystemStorage

    from omnitenant import TenantContext
    from omnitenant.logging import TenantFilter
    from omnitenant.storage import TenantStorage

    record = logging.LogRecord("bench", logging.INFO, __file__, 1, "message", (), None)
    tenant_filter = TenantFilter()
    media = tempfile.mkdtemp()
    plain = FileSystemStorage(location=media, base_url="/media/")
    wrapped = TenantStorage(plain)
    os.makedirs(os.path.join(media, "acme"))
    open(os.path.join(media, "acme", "x.txt"), "w").close()
    open(os.path.join(media, "x.txt"), "w").close()

    rows = []
    with TenantContext.use_tenant(SimpleNamespace(tenant_id="acme")):
        filtered = best(lambda: tenant_filter.filter(record), args.calls)
        rows.append(("TenantFilter.filter(record)", filtered, filtered))
        for name, call_plain, call_wrapped in [
            ("url('x.txt')", lambda: plain.url("x.txt"), lambda: wrapped.url("x.txt")),
            ("exists('x.txt')", lambda: plain.exists("x.txt"), lambda: wrapped.exists("x.txt")),
        ]:
            before = best(call_plain, args.calls // 4)
            after = best(call_wrapped, args.calls // 4)
            rows.append((f"TenantStorage.{name}", after, after - before))
    print("| call | per call | overhead |")
    print("|---|---:|---:|")
    for name, per_call, overhead in rows:
        print(f"| {name} | {per_call * 1e6:.2f} µs | {overhead * 1e6:.2f} µs |")


if __name__ == "__main__":
    main()
