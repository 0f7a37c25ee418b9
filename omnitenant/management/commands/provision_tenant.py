"""``manage.py provision_tenant ID``: create and migrate an existing tenant's schema or database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omnitenant.exceptions import OmnitenantError
from omnitenant.management.base import get_tenant_or_error
from omnitenant.provisioning import cleanup_orphans, describe, provision_tenant


class Command(BaseCommand):
    help = (
        "Provision a tenant row that exists already (saved in the admin or by a script): "
        "create its schema or database and migrate it. Running it again only migrates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "tenant_id", nargs="?", help="The tenant to provision (see manage.py list_tenants)."
        )
        parser.add_argument(
            "--no-migrate",
            action="store_false",
            dest="migrate",
            help="Create the schema or database but do not migrate it.",
        )
        parser.add_argument(
            "--adopt-existing",
            action="store_true",
            help="Use a schema or database found at the tenant's name that is not this row's.",
        )
        parser.add_argument(
            "--cleanup",
            action="store_true",
            help="Finish or undo database steps of killed create/delete runs (logged), then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cleanup"]:
            done = cleanup_orphans()
            for line in done:
                self.stdout.write(line)
            self.stdout.write(f"Cleaned up {len(done)} orphaned database(s).")
            return
        if not options["tenant_id"]:
            msg = "Name the tenant to provision, e.g. manage.py provision_tenant acme."
            raise CommandError(msg)
        tenant = get_tenant_or_error(options["tenant_id"], include_inactive=True)
        cleanup_orphans()
        try:
            created = provision_tenant(
                tenant,
                migrate=options["migrate"],
                adopt_existing=options["adopt_existing"],
                verbosity=options["verbosity"],
                stdout=self.stdout,
            )
            where = describe(tenant)
        except OmnitenantError as exc:
            msg = f"Cannot provision tenant {tenant.tenant_id!r}: {exc}"
            raise CommandError(msg) from exc
        if options["verbosity"] > 0:
            done = "created" if created else "already existed"
            migrated = "migrated" if options["migrate"] else "not migrated (--no-migrate)"
            self.stdout.write(
                self.style.SUCCESS(
                    f"Provisioned tenant {tenant.tenant_id!r}: its {where} {done}, {migrated}."
                )
            )
