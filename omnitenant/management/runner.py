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
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from typing import Any

from django.core.cache import caches
from django.core.management import call_command
from django.db import connections

from omnitenant.context import TenantContext

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
            call_command(command_name, *args, stdout=stdout, stderr=stderr)
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


def _run_in_worker(tenant: Any, command_name: str, args: list[str]) -> TenantOutcome:
    out: list[str] = []
    err: list[str] = []
    outcome = run_for_tenant(tenant, command_name, args, out=out.append, err=err.append)
    return replace(outcome, stdout="".join(out), stderr="".join(err))


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

    Database and cache connections are closed first, so that no worker shares a socket
    with this process or another worker: each opens its own on first use.
    """
    connections.close_all()
    caches.close_all()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tenants)), mp_context=context)
    try:
        futures: dict[Future[TenantOutcome], str] = {
            pool.submit(_run_in_worker, tenant, command_name, list(args)): tenant.tenant_id
            for tenant in tenants
        }
        stopping = False
        for future in as_completed(futures):
            if future.cancelled():
                continue
            try:
                outcome = future.result()
            except BrokenProcessPool as exc:
                outcome = TenantOutcome(futures[future], f"worker process died: {exc}", 0.0)
            report(outcome)
            if fail_fast and not outcome.ok and not stopping:
                stopping = True
                for pending in futures:
                    pending.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
