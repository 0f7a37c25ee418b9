"""``manage.py list_tenants [--kept] [--format json]``: the tenants, or their kept data."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from omnitenant.lookup import get_domain_model, get_tenant_model
from omnitenant.provisioning import is_provisioned, kept_data

_COLUMNS = ("ID", "NAME", "ISOLATION", "DOMAINS", "ACTIVE", "PROVISIONED")
_KEPT_COLUMNS = ("NAME", "TENANT", "DELETED AT", "KIND")


def tenant_rows() -> list[dict[str, Any]]:
    """One dict per tenant, sorted by tenant_id; primary domain first."""
    tenants = sorted(get_tenant_model()._default_manager.all(), key=lambda t: t.tenant_id)
    domains: dict[Any, list[Any]] = defaultdict(list)
    for domain in get_domain_model()._default_manager.filter(tenant__in=tenants):
        domains[domain.tenant_id].append(domain)
    return [
        {
            "tenant_id": tenant.tenant_id,
            "name": tenant.name,
            "isolation_type": tenant.isolation_type,
            "db_alias": tenant.db_alias or None,
            "cache_alias": tenant.cache_alias or None,
            "domains": [
                d.domain
                for d in sorted(domains[tenant.pk], key=lambda d: (not d.is_primary, d.domain))
            ],
            "is_active": tenant.is_active,
            "provisioned": is_provisioned(tenant),
        }
        for tenant in tenants
    ]


class Command(BaseCommand):
    help = (
        "List the tenants: id, name, isolation, domains, whether each is active and "
        "provisioned; with --kept, the data deleted tenants left aside."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="A table for people (default) or JSON for scripts.",
        )
        parser.add_argument(
            "--kept",
            action="store_true",
            help="List the schemas and databases of deleted tenants, kept under new names.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["kept"]:
            self._kept(options["format"])
            return
        rows = tenant_rows()
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No tenants.")
            return
        table = [_COLUMNS]
        for row in rows:
            isolation = row["isolation_type"]
            if row["db_alias"] and isolation == "database":
                isolation = f"database ({row['db_alias']})"
            domains = ", ".join(row["domains"]) or "-"
            active = "yes" if row["is_active"] else "no"
            provisioned = "yes" if row["provisioned"] else "no"
            table.append((row["tenant_id"], row["name"], isolation, domains, active, provisioned))
        self._table(table)

    def _kept(self, output_format: str) -> None:
        rows = kept_data()
        if output_format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No kept data.")
            return
        columns = ("name", "tenant_id", "deleted_at", "kind")
        self._table([_KEPT_COLUMNS, *(tuple(row[key] for key in columns) for row in rows)])

    def _table(self, table: list[tuple[str, ...]]) -> None:
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                ).rstrip()
            )
