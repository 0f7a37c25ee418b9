"""Test command: prints, as one JSON line, what a command sees of the active tenant."""

import json
import os
import sys
import time

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from omnitenant import TenantContext


class Command(BaseCommand):
    help = "Print the active tenant, db alias, schema and cache key as JSON."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")
        parser.add_argument("--label", default="")
        parser.add_argument("--fail-for", default="", help="Raise CommandError for these ids.")
        parser.add_argument("--exit-for", default="", help="sys.exit(3) for these ids.")
        parser.add_argument("--crash-for", default="", help="Raise RuntimeError for these ids.")
        parser.add_argument("--die-for", default="", help="os._exit(9) for these ids.")
        parser.add_argument("--record", help="Append the tenant id to this file.")
        parser.add_argument("--print", action="store_true", help="Also print() a line.")
        parser.add_argument("--sleep", type=float, default=0, help="Seconds to wait first.")
        parser.add_argument(
            "--work-ms", type=float, default=0, help="Busy CPU time, for benchmarks."
        )

    def handle(self, *args, **options):
        tenant = TenantContext.get_tenant()
        tenant_id = None if tenant is None else tenant.tenant_id
        time.sleep(options["sleep"])
        if options["work_ms"]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            until = time.perf_counter() + options["work_ms"] / 1000
            while time.perf_counter() < until:
                pass
        if options["record"]:
            with open(options["record"], "a") as record:
                record.write(f"{tenant_id}\n")
        if tenant_id in options["fail_for"].split(","):
            raise CommandError(f"show_tenant refused {tenant_id}")
        if tenant_id in options["exit_for"].split(","):
            sys.exit(3)
        if tenant_id in options["die_for"].split(","):
            os._exit(9)
        if tenant_id in options["crash_for"].split(","):
            raise RuntimeError(f"show_tenant crashed for {tenant_id}")
        if options["print"]:
            print(f"printed by {tenant_id}")  # tests the sys.stdout capture
        self.stdout.write(
            json.dumps(
                {
                    "tenant": tenant_id,
                    "label": options["label"],
                    "args": list(args),
                    "db_alias": TenantContext.get_db_alias(),
                    "schema": getattr(connection, "schema_name", None),
                    "cache_key": cache.make_key("k"),
                    "verbosity": options["verbosity"],
                    "pid": os.getpid(),
                }
            )
        )
