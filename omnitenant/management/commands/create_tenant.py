"""``manage.py create_tenant ID NAME``: a tenant row, its domains and its schema or database."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from omnitenant.context import validate_tenant_id
from omnitenant.exceptions import InvalidTenantId, OmnitenantError
from omnitenant.lookup import tenant_by_id
from omnitenant.management.base import InvalidTenantIdError
from omnitenant.provisioning import cleanup_orphans, create_tenant


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = (
        "Create a tenant: its row, its domains (the first is primary) and its schema or "
        "database, migrated. Nothing is left behind when any step fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", help="1-63 characters of a-z 0-9 _ -, e.g. acme.")
        parser.add_argument("name", help="The tenant's display name.")
        parser.add_argument(
            "--isolation",
            choices=("schema", "database"),
            default="schema",
            help="Where its rows live: a PostgreSQL schema (default) or a database of its own.",
        )
        parser.add_argument(
            "--db-alias", help="The database alias of a tenant with database isolation."
        )
        parser.add_argument(
            "--domain",
            action="append",
            default=[],
            dest="domains",
            metavar="HOST",
            help="A host name serving the tenant; repeat for more (the first is primary).",
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
            help=(
                "Use a schema or database already at the tenant's name as its data (refused "
                "without this option: it may hold another tenant's rows)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = options["tenant_id"]
        try:
            validate_tenant_id(tenant_id)
        except InvalidTenantId as exc:
            raise InvalidTenantIdError(str(exc)) from exc
        if tenant_by_id(tenant_id) is not None:
            msg = f"Tenant {tenant_id!r} already exists; see manage.py list_tenants."
            raise CommandError(msg)
        cleanup_orphans()
        try:
            tenant = create_tenant(
                tenant_id,
                options["name"],
                isolation_type=options["isolation"],
                domains=options["domains"],
                db_alias=options["db_alias"],
                migrate=options["migrate"],
                adopt_existing=options["adopt_existing"],
                verbosity=options["verbosity"],
                stdout=self.stdout,
            )
        except ValidationError as exc:
            msg = f"Cannot create tenant {tenant_id!r}: {_validation_message(exc)}"
            raise CommandError(msg) from exc
        except OmnitenantError as exc:
            msg = f"Cannot create tenant {tenant_id!r}: {exc}"
            raise CommandError(msg) from exc
        if options["verbosity"] > 0:
            where = tenant.db_alias if tenant.isolation_type == "database" else "its schema"
            migrated = "" if options["migrate"] else " (not migrated: --no-migrate)"
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created tenant {tenant_id!r} ({tenant.isolation_type} isolation, "
                    f"{where}){migrated}."
                )
            )
