"""``manage.py tenant_command <command> --tenant ID [args...]``: any command, inside one tenant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from omnitenant.context import TenantContext
from omnitenant.management.base import add_tenant_arguments, get_tenant_or_error
from omnitenant.management.wrapping import (
    HELP_FLAGS,
    before_separator,
    command_for_tenant,
    fetch_command,
    wants_help,
)

# Django's base options that take a value; they may stand before the wrapped command's name.
_VALUE_OPTIONS = frozenset({"--settings", "--pythonpath", "-v", "--verbosity"})
# Base options passed on by call_command("tenant_command", ...) when set to a non-default.
_BASE_DEFAULTS = {"verbosity": 1, "traceback": False, "no_color": False, "force_color": False}


def split_tenant_options(args: Sequence[str]) -> tuple[str | None, bool, list[str]]:
    """Take ``--tenant ID``/``--tenant=ID`` and ``--include-inactive`` out of ``args``.

    They may stand anywhere before a literal ``--``; everything else is left in order.
    """
    head = before_separator(args)
    tenant_id: str | None = None
    include_inactive = False
    rest: list[str] = []
    index = 0
    while index < len(head):
        arg = head[index]
        value: str | None = None
        if arg == "--tenant":
            if index + 1 >= len(head):
                msg = "--tenant needs a value: --tenant TENANT_ID (see manage.py list_tenants)."
                raise CommandError(msg)
            value = head[index + 1]
            index += 1
        elif arg.startswith("--tenant="):
            value = arg.partition("=")[2]
        elif arg == "--include-inactive":
            include_inactive = True
        else:
            rest.append(arg)
        if value is not None:
            _refuse_second_tenant(tenant_id, value)
            tenant_id = value
        index += 1
    return tenant_id, include_inactive, [*rest, *args[len(head) :]]


def _refuse_second_tenant(first: str | None, second: str) -> None:
    if first is not None:
        msg = f"--tenant given twice ({first!r} and {second!r}); pass it once."
        raise CommandError(msg)


def _split_command(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The wrapped command's name and its arguments; base options before the name follow it."""
    leading: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in HELP_FLAGS or arg == "--":
            return None, []
        if not arg.startswith("-"):
            return arg, [*leading, *args[index + 1 :]]
        leading.append(arg)
        if arg in _VALUE_OPTIONS and index + 1 < len(args):
            leading.append(args[index + 1])
            index += 1
        index += 1
    return None, []


class Command(BaseCommand):
    help = (
        "Run a management command inside one tenant: "
        "tenant_command <command> --tenant TENANT_ID [its arguments and options]."
    )
    # The wrapped command runs its own system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_tenant_arguments(parser)
        parser.add_argument("command_name", metavar="command", help="The command, e.g. migrate.")
        parser.add_argument(
            "args",
            nargs=argparse.REMAINDER,
            metavar="...",
            help="Its arguments and options, passed on untouched (--help too).",
        )

    def run_from_argv(self, argv: list[str]) -> None:
        tenant_id, include_inactive, rest = split_tenant_options(argv[2:])
        name, wrapped_args = _split_command(rest)
        if name is None:
            # No command named: tenant_command's own --help or usage error.
            super().run_from_argv(argv)
            return
        self._called_from_command_line = True
        command = fetch_command(name, prog_name=argv[0])
        if wants_help(wrapped_args):
            command.run_from_argv([argv[0], name, *wrapped_args])
            return
        try:
            tenant = self._get_tenant(tenant_id, include_inactive=include_inactive)
            with TenantContext.use_tenant(tenant):
                command, wrapped_args = command_for_tenant(command, name, wrapped_args, tenant)
        except CommandError as exc:
            if "--traceback" in wrapped_args:
                raise
            self.stderr.write(f"{exc.__class__.__name__}: {exc}")
            sys.exit(exc.returncode)
        with TenantContext.use_tenant(tenant):
            command.run_from_argv([argv[0], name, *wrapped_args])

    def handle(self, *args: str, **options: Any) -> None:
        # Reached through call_command("tenant_command", "migrate", tenant="acme", ...).
        tenant_id, include_inactive, wrapped_args = split_tenant_options(args)
        if options["tenant"] is not None:
            _refuse_second_tenant(tenant_id, options["tenant"])
            tenant_id = options["tenant"]
        include_inactive = include_inactive or options["include_inactive"]
        command = fetch_command(options["command_name"])
        forwarded = {
            key: options[key] for key in ("stdout", "stderr") if options.get(key) is not None
        }
        forwarded.update(
            (key, options[key]) for key, value in _BASE_DEFAULTS.items() if options[key] != value
        )
        if wants_help(wrapped_args):
            call_command(command, *wrapped_args, **forwarded)
            return
        tenant = self._get_tenant(tenant_id, include_inactive=include_inactive)
        with TenantContext.use_tenant(tenant):
            command, wrapped_args = command_for_tenant(
                command, options["command_name"], wrapped_args, tenant
            )
            call_command(command, *wrapped_args, **forwarded)

    def _get_tenant(self, tenant_id: str | None, *, include_inactive: bool) -> Any:
        if tenant_id is None:
            msg = (
                "tenant_command needs --tenant TENANT_ID, e.g. "
                "manage.py tenant_command migrate --tenant acme (see manage.py list_tenants)."
            )
            raise CommandError(msg)
        return get_tenant_or_error(tenant_id, include_inactive=include_inactive)
