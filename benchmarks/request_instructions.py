"""What TenantMiddleware adds to a request, in CPU instructions (valgrind's callgrind).

Wall-clock ratios on a shared machine move by several percent between runs; instruction
counts do not. For each variant (``none``: no middleware; ``omnitenant``: TenantMiddleware,
warm, version stamp pushed over Redis) this runs the same warm-up twice under callgrind,
once followed by N requests and once by N + 1,000, and divides the difference by 1,000: the
instructions of one warm request, start-up excluded. Same settings and database as
request_overhead.py; the database connection is open in both variants, as in production.

    python benchmarks/request_instructions.py          (needs valgrind: apt-get install valgrind)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTRA = 1_000


def child(variant: str, requests: int) -> None:
    sys.path.insert(0, str(HERE))
    import request_overhead as bench

    bench.configure()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import override_settings

    with override_settings(MIDDLEWARE=bench.MIDDLEWARE if variant == "omnitenant" else []):
        handler = WSGIHandler()
    hosts = [f"t{i}.example.com" for i in range(10)]
    bench.run(handler, hosts * 20)
    bench.wait_for_subscription()
    connection.ensure_connection()
    if requests:
        bench.run(handler, (hosts * (requests // len(hosts) + 1))[:requests])


def instructions(variant: str, requests: int) -> int:
    result = subprocess.run(
        [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(sys.executable, __file__, "--child", variant, str(requests)),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    # request_overhead.py creates the database and the tenants t0..t9 (run it first).
    per_request = {
        variant: (instructions(variant, EXTRA) - instructions(variant, 0)) / EXTRA
        for variant in ("none", "omnitenant")
    }
    print("| variant | instructions/request | vs no tenancy |")
    print("|---------|---------------------:|--------------:|")
    for variant, count in per_request.items():
        print(f"| {variant} | {count:,.0f} | {count / per_request['none']:.3f}x |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
