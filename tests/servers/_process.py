"""Shared plumbing of the rig servers: free ports, readiness polling, stopping a process."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"{what} did not happen within {timeout} s"
            raise TimeoutError(msg)
        time.sleep(0.01)


def ask(port: int, request: bytes, expect: bytes, timeout: float = 0.5) -> bool:
    """True when the server on ``port`` answers ``request`` with something containing ``expect``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            return expect in sock.recv(4096)
    except OSError:
        return False


def kill(process: subprocess.Popen | None) -> None:
    """SIGKILL ``process`` (resuming it first if stopped) and reap it."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)
    process.kill()
    process.wait(10)
