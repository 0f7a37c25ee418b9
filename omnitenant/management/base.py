"""``TenantCommand`` and what the tenant-aware commands share: finding a tenant by id."""

from __future__ import annotations

import difflib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from omnitenant.context import TenantContext, validate_tenant_id
from omnitenant.exceptions import InvalidTenantId, TenantNotFound
from omnitenant.lookup import get_tenant_model, tenant_by_id


class UnknownTenantError(CommandError, TenantNotFound):
    """No tenant has the id a command was given (catch it as either base)."""


class InvalidTenantIdError(CommandError, InvalidTenantId):
    """A command was given a malformed tenant id (catch it as either base)."""


def _not_found_message(tenant_id: str) -> str:
    known = get_tenant_model()._default_manager.values_list("tenant_id", flat=True)
    close = difflib.get_close_matches(tenant_id, list(known), n=3)
    if close:
        names = ", ".join(repr(name) for name in close)
        return f"No tenant {tenant_id!r}; did you mean {names}? See manage.py list_tenants."
    return f"No tenant {tenant_id!r}; see manage.py list_tenants."


def get_tenant_or_error(tenant_id: str, *, include_inactive: bool = False) -> Any:
    """The tenant ``tenant_id`` names, or a CommandError saying what to type instead."""
    try:
        validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        raise InvalidTenantIdError(str(exc)) from exc
    tenant = tenant_by_id(tenant_id)
    if tenant is None:
        raise UnknownTenantError(_not_found_message(tenant_id))
    if not tenant.is_active and not include_inactive:
        msg = f"Tenant {tenant_id!r} is inactive; pass --include-inactive to run it anyway."
        raise CommandError(msg)
    return tenant


def add_tenant_arguments(parser: CommandParser) -> None:
    """``--tenant`` and ``--include-inactive``, as every single-tenant command spells them."""
    parser.add_argument(
        "--tenant",
        metavar="TENANT_ID",
        help="Run inside this tenant (see manage.py list_tenants).",
    )
    parser.add_argument(
        "--include-inactive",
        action="store_true",
        help="Allow a tenant whose is_active is False.",
    )


class TenantCommand(BaseCommand):
    """A management command whose ``handle()`` runs inside the tenant named by ``--tenant``.

    Subclass it instead of ``BaseCommand`` (it also mixes in before ``LabelCommand`` and
    friends). ``--tenant`` and ``--include-inactive`` are added after ``add_arguments``,
    so overriding that needs no ``super()`` call; ``self.tenant`` is the active tenant.
    Without ``--tenant`` the command runs in the tenant already active (e.g. under
    ``tenant_command`` or ``all_tenants_command``), and fails if there is none.
    """

    tenant: Any = None

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        add_tenant_arguments(parser)
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        tenant_id = options.get("tenant")
        if tenant_id is not None:
            tenant = get_tenant_or_error(
                tenant_id, include_inactive=options.get("include_inactive", False)
            )
        else:
            tenant = TenantContext.get_tenant()
            if tenant is None:
                name = self.__class__.__module__.rsplit(".", 1)[-1]
                msg = (
                    f"{name} runs inside a tenant: pass --tenant TENANT_ID "
                    "(see manage.py list_tenants)."
                )
                raise CommandError(msg)
        self.tenant = tenant
        with TenantContext.use_tenant(tenant):
            return super().execute(*args, **options)
