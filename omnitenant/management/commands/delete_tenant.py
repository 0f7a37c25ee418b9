"""``manage.py delete_tenant ID``: delete a tenant's row; its data only with ``--drop-data``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, transaction

from omnitenant.management.base import get_tenant_or_error
from omnitenant.provisioning import deprovision_tenant


class Command(BaseCommand):
    help = (
        "Delete a tenant and its domains. Its schema or database is kept unless --drop-data "
        "is given; you are asked to type the tenant id to confirm."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="The tenant to delete (see manage.py list_tenants).")
        parser.add_argument(
            "--drop-data",
            action="store_true",
            help="Also drop its schema or database, with every row in it. Cannot be undone.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = get_tenant_or_error(options["tenant_id"], include_inactive=True)
        tenant_id = tenant.tenant_id
        drop_data = options["drop_data"]
        storage = (
            f"database {tenant.db_alias!r}"
            if tenant.isolation_type == "database"
            else f"schema {tenant_id!r}"
        )
        if options["interactive"]:
            fate = "DROPPED with all its rows" if drop_data else "kept"
            answer = input(
                f"Delete tenant {tenant_id!r} ({tenant.name}) and its domains? Its {storage} "
                f"will be {fate}. Type the tenant id to confirm: "
            )
            if answer.strip() != tenant_id:
                msg = f"Deletion of tenant {tenant_id!r} cancelled; nothing was changed."
                raise CommandError(msg)
        # Row first, data last, in one transaction: if dropping fails the row comes back.
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            tenant.delete()
            deprovision_tenant(tenant, drop_data=drop_data)
        if options["verbosity"] > 0:
            if drop_data:
                done = f"its {storage} was dropped"
            else:
                done = f"its {storage} was kept (a new tenant {tenant_id!r} would find it again)"
            self.stdout.write(self.style.SUCCESS(f"Deleted tenant {tenant_id!r}; {done}."))
