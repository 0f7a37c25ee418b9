"""``manage.py all_tenants_command <command> [args...]``: a command for every active tenant."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.core.management.color import Style
from django.db import connections

from omnitenant.lookup import get_tenant_model
from omnitenant.management.base import get_tenant_or_error
from omnitenant.management.commands.tenant_command import split_tenant_options
from omnitenant.management.runner import TenantOutcome, run_in_process, run_in_workers
from omnitenant.management.wrapping import database_option, fetch_command, wants_help

_BAR_WIDTH = 30
_LISTED_FAILURES = 10


def _tenant_ids(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [part.strip() for part in parts if part.strip()]


class _Console:
    """Progress lines, the tenants' prefixed output and, on a terminal, a progress bar."""

    def __init__(
        self,
        stdout: OutputWrapper,
        stderr: OutputWrapper,
        style: Style,
        *,
        total: int,
        verbosity: int,
        traceback: bool,
    ) -> None:
        self.stdout, self.stderr, self.style, self.total = stdout, stderr, style, total
        self.verbosity = verbosity
        self.show_tracebacks = traceback or verbosity >= 2
        self.bar = self.verbosity > 0 and stdout.isatty()
        self._bar_shown = False
        self.outcomes: list[TenantOutcome] = []

    def out(self, text: str) -> None:
        self._clear_bar()
        self.stdout.write(text, ending="")

    def err(self, text: str) -> None:
        self._clear_bar()
        self.stderr.write(text, ending="")

    def report(self, outcome: TenantOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.stdout:
            self.out(outcome.stdout)
        if outcome.stderr:
            self.err(outcome.stderr)
        head = f"[{len(self.outcomes)}/{self.total}] {outcome.tenant_id} ..."
        if outcome.ok:
            if self.verbosity > 0:
                self.out(f"{head} {self.style.SUCCESS('ok')} ({outcome.seconds:.1f}s)\n")
        else:
            failed = self.style.ERROR("FAILED")
            self.out(f"{head} {failed} ({outcome.seconds:.1f}s): {outcome.error}\n")
            if self.show_tracebacks and outcome.details:
                self.err(
                    "".join(
                        f"{outcome.tenant_id} | {line}\n" for line in outcome.details.splitlines()
                    )
                )
        self._draw_bar()

    def finish(self) -> None:
        self._clear_bar()

    def _draw_bar(self) -> None:
        if not self.bar:
            return
        done = len(self.outcomes)
        filled = _BAR_WIDTH * done // self.total
        failed = sum(not outcome.ok for outcome in self.outcomes)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self.stdout.write(f"[{bar}] {done}/{self.total}, {failed} failed", ending="")
        self.stdout.flush()
        self._bar_shown = True

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.stdout.write("\r\x1b[2K", ending="")
            self._bar_shown = False


class Command(BaseCommand):
    help = (
        "Run a management command for every active tenant (or --tenants), one after another "
        "or in --jobs worker processes: all_tenants_command [options] <command> [its arguments]."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenants", metavar="ID,ID", help="Only these tenants.")
        parser.add_argument("--exclude", metavar="ID,ID", help="Skip these tenants.")
        parser.add_argument(
            "--include-inactive",
            action="store_true",
            help="Also run for tenants whose is_active is False.",
        )
        parser.add_argument(
            "--fail-fast", action="store_true", help="Stop at the first tenant that fails."
        )
        parser.add_argument(
            "--jobs",
            "-j",
            type=int,
            default=1,
            metavar="N",
            help="Run tenants in N worker processes, each with its own database connections.",
        )
        parser.add_argument("command_name", metavar="command", help="The command, e.g. migrate.")
        parser.add_argument(
            "args",
            nargs=argparse.REMAINDER,
            metavar="...",
            help="Its arguments and options, passed on untouched. Options of "
            "all_tenants_command go before the command's name.",
        )

    def handle(self, *args: str, **options: Any) -> None:
        name = options["command_name"]
        prog_name = getattr(self, "_prog_name", None)
        command = fetch_command(name, prog_name=prog_name)
        if wants_help(args):
            if prog_name is not None:
                command.run_from_argv([prog_name, name, *args])
            else:
                call_command(command, *args)
            return
        # Arguments the command would refuse are refused once, before any tenant runs.
        command.create_parser("", name).parse_args(args)
        # A --tenant passed through would make every run use that one tenant.
        wrapped_tenant, _, _ = split_tenant_options(args)
        if wrapped_tenant is not None:
            msg = (
                f"all_tenants_command runs {name} once per tenant; drop --tenant "
                f"{wrapped_tenant} (choose tenants with --tenants / --exclude)."
            )
            raise CommandError(msg)
        _, database = database_option(command, name, args)
        if database is not None:
            msg = (
                f"all_tenants_command runs {name} on each tenant's own database; drop "
                f"--database {database}."
            )
            raise CommandError(msg)
        jobs = self._jobs(options["jobs"])
        tenants = self._select(options)
        if not tenants:
            if options["verbosity"] > 0:
                self.stdout.write("No tenants to run for.")
            return
        console = _Console(
            self.stdout,
            self.stderr,
            self.style,
            total=len(tenants),
            verbosity=options["verbosity"],
            traceback=options["traceback"],
        )
        started = time.perf_counter()
        try:
            if jobs == 1:
                run_in_process(
                    tenants,
                    name,
                    args,
                    fail_fast=options["fail_fast"],
                    out=console.out,
                    err=console.err,
                    report=console.report,
                )
            else:
                run_in_workers(
                    tenants,
                    name,
                    args,
                    jobs=jobs,
                    fail_fast=options["fail_fast"],
                    report=console.report,
                )
        finally:
            console.finish()
        self._summarize(
            name, console.outcomes, len(tenants), time.perf_counter() - started, **options
        )

    def run_from_argv(self, argv: list[str]) -> None:
        self._prog_name = argv[0]
        super().run_from_argv(argv)

    def _jobs(self, value: Any) -> int:
        try:
            jobs = int(value)
        except (TypeError, ValueError):
            jobs = 0
        if jobs < 1:
            msg = f"--jobs must be a whole number of at least 1, not {value!r}."
            raise CommandError(msg)
        if jobs > 1 and any(c.in_atomic_block for c in connections.all(initialized_only=True)):
            msg = (
                f"--jobs {jobs} cannot run inside a transaction: the worker processes would not "
                "see its uncommitted changes. Commit first, or run without --jobs."
            )
            raise CommandError(msg)
        return jobs

    def _select(self, options: dict[str, Any]) -> list[Any]:
        """The tenants to run for, sorted by tenant_id; unknown ids are refused, not skipped."""
        include_inactive = options["include_inactive"]
        if options["tenants"] is not None:
            ids = _tenant_ids(options["tenants"])
            if not ids:
                msg = "--tenants names no tenant; give ids such as --tenants acme,globex."
                raise CommandError(msg)
            tenants = [get_tenant_or_error(i, include_inactive=include_inactive) for i in ids]
        else:
            queryset = get_tenant_model()._default_manager.all()
            tenants = list(queryset if include_inactive else queryset.filter(is_active=True))
        # A typo in --exclude would run a tenant the user meant to skip: refuse it too.
        excluded = {
            get_tenant_or_error(i, include_inactive=True).tenant_id
            for i in _tenant_ids(options["exclude"])
        }
        unique = {
            tenant.tenant_id: tenant for tenant in tenants if tenant.tenant_id not in excluded
        }
        return [unique[tenant_id] for tenant_id in sorted(unique)]

    def _summarize(
        self, name: str, outcomes: list[TenantOutcome], total: int, seconds: float, **options: Any
    ) -> None:
        failed = [outcome.tenant_id for outcome in outcomes if not outcome.ok]
        skipped = total - len(outcomes)
        if options["verbosity"] > 0 or failed:
            parts = [f"{len(outcomes) - len(failed)} ok", f"{len(failed)} failed"]
            if skipped:
                parts.append(f"{skipped} not run")
            self.stdout.write(f"{name}: {', '.join(parts)} of {total} tenants in {seconds:.1f}s.")
        if failed:
            listed = ", ".join(failed[:_LISTED_FAILURES])
            if len(failed) > _LISTED_FAILURES:
                listed += f" and {len(failed) - _LISTED_FAILURES} more"
            msg = f"{name} failed for {len(failed)} of {total} tenants: {listed}."
            raise CommandError(msg)
