"""Running another management command from ``tenant_command`` / ``all_tenants_command``."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import Any

from django.core.management import ManagementUtility, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS

from omnitenant.context import TenantContext
from omnitenant.isolation import DATABASE, isolation_of
from omnitenant.isolation import database as database_isolation

HELP_FLAGS = frozenset({"-h", "--help"})


def before_separator(args: Sequence[str]) -> Sequence[str]:
    """The arguments before a literal ``--``: the ones a wrapper may look at."""
    return args[: list(args).index("--")] if "--" in args else args


def wants_help(args: Sequence[str]) -> bool:
    """Whether the wrapped command's arguments ask for its ``--help``."""
    return any(arg in HELP_FLAGS for arg in before_separator(args))


def fetch_command(name: str, *, prog_name: str | None = None) -> BaseCommand:
    """The command ``name``, or Django's own "Unknown command" error.

    With ``prog_name`` (run from the command line) that is ManagementUtility's message and
    exit status 1; otherwise call_command's ``CommandError``.
    """
    if prog_name is not None:
        return ManagementUtility([prog_name, name]).fetch_command(name)
    try:
        app_name = get_commands()[name]
    except KeyError:
        msg = f"Unknown command: {name!r}"
        raise CommandError(msg) from None
    if isinstance(app_name, BaseCommand):
        return app_name
    return load_command_class(app_name, name)


def prog_name() -> str:
    """What the user typed to run manage.py, for messages and wrapped ``argv``."""
    return sys.argv[0] if sys.argv and sys.argv[0] else "manage.py"


_UNSET = object()


class TenantMigrateCommand(MigrateCommand):
    """``migrate`` inside a tenant: ``migrate_tenant`` on the tenant's schema or database.

    A plain ``migrate`` runs on ``default``: for a database tenant it would record the
    migrations there and create nothing in the tenant's database.
    """

    def handle(self, *args: Any, **options: Any) -> None:
        from omnitenant.exceptions import ProvisioningError
        from omnitenant.provisioning import migrate_tenant

        migrate_options = {key: options[key] for key in _migrate_option_names() if key in options}
        verbosity = migrate_options.pop("verbosity", 1)
        try:
            migrate_tenant(
                TenantContext.get_tenant(),
                verbosity=verbosity,
                stdout=_AsWritten(self.stdout),
                **migrate_options,
            )
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc


class _AsWritten(io.TextIOBase):
    """A command's OutputWrapper that adds no line ending (migrate writes partial lines)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        super().__init__()
        self._wrapper = wrapper

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._wrapper.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self._wrapper.flush()


def _migrate_option_names() -> frozenset[str]:
    parser = MigrateCommand().create_parser("manage.py", "migrate")
    return frozenset(vars(parser.parse_args([]))) - {"skip_checks"}


def tenant_alias(tenant: Any) -> str:
    """The database alias holding ``tenant``'s rows (registered first for a database tenant)."""
    if isolation_of(tenant) == DATABASE:
        return database_isolation.ensure_alias(tenant)
    return DEFAULT_DB_ALIAS


def database_option(command: BaseCommand, name: str, args: Sequence[str]) -> tuple[bool, Any]:
    """Whether ``command`` takes ``--database``, and the alias ``args`` name (None if none)."""
    parser = command.create_parser(prog_name(), name)
    if "database" not in vars(parser.parse_args(args)):
        return False, None
    parser.set_defaults(database=_UNSET)
    given = parser.parse_args(args).database
    return True, None if given is _UNSET else given


def command_for_tenant(
    command: BaseCommand, name: str, args: Sequence[str], tenant: Any
) -> tuple[BaseCommand, list[str]]:
    """The command and arguments that run ``command`` on ``tenant``'s data, or a refusal.

    A command with a ``--database`` option gets the tenant's alias; one named explicitly
    that is not the tenant's is refused, since the command would miss the tenant's data.
    ``migrate`` becomes ``TenantMigrateCommand``. Commands without ``--database`` run as
    they are: the router sends their queries to the tenant.
    """
    args = list(args)
    if wants_help(args):
        return command, args
    has_option, given = database_option(command, name, args)
    if not has_option:
        return command, args
    alias = tenant_alias(tenant)
    if given is None:
        args = ["--database", alias, *args]
    elif given != alias:
        msg = (
            f"{name} --database {given} inside tenant {tenant.tenant_id!r} would miss its "
            f"data, which is in database {alias!r}; drop --database (inside a tenant it is "
            f"{alias!r})."
        )
        raise CommandError(msg)
    if type(command) is MigrateCommand:  # a project's own migrate keeps its behaviour
        return TenantMigrateCommand(), args
    return command, args
