"""Running another management command from ``tenant_command`` / ``all_tenants_command``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from django.core.management import ManagementUtility, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError

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
