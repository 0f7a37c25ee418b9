"""A memcached of the test's own: killed, restarted (always empty), paused."""

from __future__ import annotations

import signal
import subprocess

from tests.servers._process import ask, free_port, kill, wait_for


class MemcachedServer:
    """``memcached`` on a free loopback port, TCP only."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers ``version``."""
        self.process = subprocess.Popen(
            ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-u", "nobody"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, f"memcached on port {self.port} answering")

    def answers(self) -> bool:
        return ask(self.port, b"version\r\n", b"VERSION")

    def ensure_running(self) -> None:
        """Start the server again if a test left it killed, and resume it if paused."""
        if self.process is None:
            self.start()
        else:
            self.resume()

    def kill(self) -> None:
        kill(self.process)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, the server answers nothing."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
