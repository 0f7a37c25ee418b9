"""Real HTTP servers for tests: gunicorn (WSGI) or uvicorn (ASGI) serving the test project.

``serve(kind, overrides)`` starts one on a free loopback port with the settings of
``tests.servers.site_settings`` and ``overrides``, waits until it answers, yields a client
for it and stops it afterwards. Pass ``DATABASES`` from ``database_overrides()`` so that it
reads the test database (the rows a ``transaction=True`` test committed).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KINDS = ("gunicorn", "uvicorn")
_DATABASE_KEYS = ("ENGINE", "HOST", "PORT", "USER", "PASSWORD", "NAME")


def database_overrides() -> dict[str, Any]:
    """``DATABASES`` naming this test run's default database, for ``serve()``."""
    from django.db import connection

    return {"DATABASES": {"default": {k: connection.settings_dict[k] for k in _DATABASE_KEYS}}}


def _command(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":
        app = "django.core.wsgi:get_wsgi_application()"
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", app]
    if kind == "uvicorn":
        app = "django.core.asgi:get_asgi_application"
        return [
            *(sys.executable, "-m", "uvicorn", "--factory", app, "--lifespan", "off"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]
    msg = f"Unknown server kind {kind!r}; use one of {KINDS}."
    raise ValueError(msg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerClient:
    """Sends one request per connection to the server, with exactly the headers given."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.log: Path | None = None

    def get(self, path: str, host: str, **headers: str) -> http.client.HTTPResponse:
        """The response, its body already read into ``response.body``."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": host, **headers})
            response = connection.getresponse()
            response.body = response.read()  # type: ignore[attr-defined]
            return response
        finally:
            connection.close()


def _wait_until_answering(client: ServerClient, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the server exited with {process.returncode}:\n{log.read_text()}"
            raise AssertionError(msg)
        with contextlib.suppress(OSError, http.client.HTTPException):
            client.get("/", "example.com")
            return
        time.sleep(0.05)
    msg = f"the server did not answer on port {client.port} within 30 s:\n{log.read_text()}"
    raise AssertionError(msg)


@contextlib.contextmanager
def serve(kind: str, overrides: dict[str, Any]) -> Iterator[ServerClient]:
    """Run a ``kind`` server (gunicorn or uvicorn) for the block; yield its client."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.servers.site_settings",
        "OMNITENANT_SERVER_SETTINGS": json.dumps(overrides),
        "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
    }
    with tempfile.TemporaryDirectory(prefix=f"omnitenant-{kind}-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                _command(kind, port), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            client = ServerClient(port)
            client.log = log  # the server's output, for tests that read what it logged
            _wait_until_answering(client, process, log)
            yield client
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
