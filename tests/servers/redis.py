"""A redis-server of the test's own: killed, restarted empty or from its AOF, paused."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from tests.servers._process import ask, free_port, kill, wait_for


class RedisServer:
    """``redis-server`` on a free loopback port with an append-only file in ``directory``.

    ``appendfsync always``: a write the server acknowledged survives ``kill()``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (loading its AOF, if any) and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.answers, 10, f"redis-server on port {self.port} answering")

    def answers(self) -> bool:
        return ask(self.port, b"PING\r\n", b"+PONG")

    def ensure_running(self) -> None:
        """Start the server again if a test left it killed, and resume it if paused."""
        if self.process is None:
            self.start()
        else:
            self.resume()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (what survives is in the AOF)."""
        kill(self.process)
        self.process = None

    def wipe(self) -> None:
        """Delete the data directory: the next ``start()`` begins empty."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, the server answers nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
