"""Running one command for many tenants: in this process, or in forked worker processes.

Each tenant's run is isolated from the next: its output is captured line by line with the
tenant id in front, and any failure (an exception or a non-zero ``SystemExit``) becomes
that tenant's outcome instead of stopping the others.
"""

from __future__ import annotations

import io
import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from django.core.cache import caches
from django.core.management import call_command
from django.db import connections

from omnitenant import lookup
from omnitenant.context import TenantContext
from omnitenant.management.wrapping import command_for_tenant, fetch_command

Sink = Callable[[str], Any]


@dataclass(frozen=True)
class TenantOutcome:
    """How one tenant's run ended; ``error`` is None when it succeeded."""

    tenant_id: str
    error: str | None
    seconds: float
    details: str = ""
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class PrefixedWriter(io.TextIOBase):
    """A text stream that hands each complete line to ``sink`` with ``prefix`` in front."""

    def __init__(self, prefix: str, sink: Sink) -> None:
        super().__init__()
        self._prefix = prefix
        self._sink = sink
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._sink(f"{self._prefix}{line}\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self._sink(f"{self._prefix}{pending}\n")


def run_for_tenant(
    tenant: Any, command_name: str, args: Sequence[str], *, out: Sink, err: Sink
) -> TenantOutcome:
    """Run ``command_name`` inside ``tenant``; its output goes to ``out``/``err``, prefixed."""
    prefix = f"{tenant.tenant_id} | "
    stdout, stderr = PrefixedWriter(prefix, out), PrefixedWriter(prefix, err)
    error, details = None, ""
    started = time.perf_counter()
    try:
        # Commands that print() or write to sys.stdout (shell -c) are captured as well.
        with redirect_stdout(stdout), redirect_stderr(stderr), TenantContext.use_tenant(tenant):
            command, tenant_args = command_for_tenant(
                fetch_command(command_name), command_name, args, tenant
            )
            call_command(command, *tenant_args, stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = f"exited with status {exc.code}"
    except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
        error = f"{type(exc).__name__}: {exc}"
        details = traceback.format_exc()
    finally:
        stdout.flush()
        stderr.flush()
    return TenantOutcome(tenant.tenant_id, error, time.perf_counter() - started, details)


def run_in_process(
    tenants: Iterable[Any],
    command_name: str,
    args: Sequence[str],
    *,
    fail_fast: bool,
    out: Sink,
    err: Sink,
    report: Callable[[TenantOutcome], None],
) -> None:
    """Run the tenants one after another here, streaming their output as it comes."""
    for tenant in tenants:
        outcome = run_for_tenant(tenant, command_name, args, out=out, err=err)
        report(outcome)
        if fail_fast and not outcome.ok:
            return


def _work(tasks: Any, results: Connection, stop: Any, command_name: str, args: list[str]) -> None:
    """A worker process: take tenants from ``tasks`` until None, send back what happened."""
    try:
        while (tenant := tasks.get()) is not None:
            if stop.is_set():
                continue
            results.send(("start", tenant.tenant_id))
            out: list[str] = []
            err: list[str] = []
            outcome = run_for_tenant(tenant, command_name, args, out=out.append, err=err.append)
            results.send(("done", replace(outcome, stdout="".join(out), stderr="".join(err))))
    finally:
        connections.close_all()
        results.close()


def run_in_workers(
    tenants: Sequence[Any],
    command_name: str,
    args: Sequence[str],
    *,
    jobs: int,
    fail_fast: bool,
    report: Callable[[TenantOutcome], None],
) -> None:
    """Run the tenants in ``jobs`` forked processes; report each one as it finishes.

    Database and cache connections are closed before forking, so that no worker shares a
    socket with this process or another worker: each opens its own on first use. Every
    tenant is queued up front and workers take the next one themselves; each sends its
    results over its own pipe, so a worker that dies is noticed (its tenant fails) and the
    others carry on with the rest.
    """
    connections.close_all()
    caches.close_all()
    # Fork with no other thread running: a child inherits no lock one of them held.
    lookup.before_fork()
    context = multiprocessing.get_context("fork")
    tasks = context.Queue()
    stop = context.Event()
    running: dict[Connection, str | None] = {}
    processes = []
    for _ in range(min(jobs, len(tenants))):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_work, args=(tasks, sender, stop, command_name, list(args)), daemon=True
        )
        process.start()
        # Closed here before the next fork, so a worker's pipe ends (EOF) when it exits.
        sender.close()
        processes.append(process)
        running[receiver] = None
    # Queued only now: the queue's feeder thread must not exist when the workers fork.
    for tenant in tenants:
        tasks.put(tenant)
    for _ in processes:
        tasks.put(None)
    try:
        while running:
            for receiver in cast("list[Connection]", wait(list(running))):
                try:
                    kind, value = receiver.recv()
                except EOFError:
                    tenant_id = running.pop(receiver)
                    if tenant_id is None:
                        continue
                    value = TenantOutcome(tenant_id, "its worker process died", 0.0)
                    kind = "done"
                if kind == "start":
                    running[receiver] = value
                    continue
                running[receiver] = None
                report(value)
                if fail_fast and not value.ok:
                    stop.set()
    finally:
        stop.set()
        tasks.cancel_join_thread()
        tasks.close()
        for process in processes:
            process.join()
