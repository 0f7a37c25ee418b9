"""``manage.py delete_tenant ID``: delete a tenant's row; its data only with ``--drop-data``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omnitenant.exceptions import OmnitenantError
from omnitenant.management.base import get_tenant_or_error
from omnitenant.provisioning import delete_tenant, describe


class Command(BaseCommand):
    help = (
        "Delete a tenant and its domains, and clear its cache entries. Its schema or database "
        "is kept under a new name (see list_tenants --kept) unless --drop-data is given; you "
        "are asked to type the tenant id to confirm."
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
        try:
            storage = describe(tenant)
        except OmnitenantError as exc:
            msg = f"Cannot delete tenant {tenant_id!r}: {exc}"
            raise CommandError(msg) from exc
        if options["interactive"]:
            fate = "DROPPED with all its rows" if drop_data else "kept under a new name"
            answer = input(
                f"Delete tenant {tenant_id!r} ({tenant.name}) and its domains? Its {storage} "
                f"will be {fate}. Type the tenant id to confirm: "
            )
            if answer.strip() != tenant_id:
                msg = f"Deletion of tenant {tenant_id!r} cancelled; nothing was changed."
                raise CommandError(msg)
        try:
            moved = delete_tenant(tenant, drop_data=drop_data)
        except OmnitenantError as exc:
            msg = f"Cannot delete tenant {tenant_id!r}: {exc}"
            raise CommandError(msg) from exc
        if options["verbosity"] > 0:
            if moved is None:
                done = "it had no schema or database"
            elif drop_data:
                done = f"its {storage} was dropped"
            else:
                done = f"its {storage} was kept as {moved!r} (see manage.py list_tenants --kept)"
            self.stdout.write(self.style.SUCCESS(f"Deleted tenant {tenant_id!r}; {done}."))
