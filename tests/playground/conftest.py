"""A real playground server on 127.0.0.1 (a free port), run in a thread of the test process."""

import json
import threading
import time
import urllib.request

import pytest
import uvicorn

from handgrad.cli.playground import address, open_socket
from handgrad.playground.server import create_app


class ServerThread:
    def __init__(self, fps: float = 25.0):
        sock = open_socket("127.0.0.1", 0)
        self.url = address(sock)
        self.ws_url = self.url.replace("http://", "ws://") + "ws"
        self.server = uvicorn.Server(uvicorn.Config(create_app(fps=fps), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            time.sleep(0.01)
        raise RuntimeError("the playground server did not start within 5 s")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "status", timeout=5) as response:
            return json.load(response)

    def wait_for(self, predicate, what: str, seconds: float = 20.0):
        """Poll /status until predicate(status) holds; fail naming ``what`` otherwise."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last status {status}")


@pytest.fixture(scope="module")
def server():
    with ServerThread(fps=25.0) as running:
        yield running


@pytest.fixture(scope="module")
def slow_server():
    """Frames at most 4 per second: a rate a test can bound without timing the machine."""
    with ServerThread(fps=4.0) as running:
        yield running
