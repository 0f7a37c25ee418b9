"""moto's S3-compatible server on a free loopback port, for the S3 storage tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.servers._process import ask, free_port, kill, wait_for


class MotoServer:
    """``moto_server`` (S3 and friends, in memory) on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers HTTP."""
        command = shutil.which("moto_server", path=os.path.dirname(sys.executable))
        self.process = subprocess.Popen(
            [command or "moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, 30, f"moto_server on port {self.port} answering")

    def answers(self) -> bool:
        return ask(self.port, b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", b"HTTP/1.")

    def stop(self) -> None:
        kill(self.process)
        self.process = None
