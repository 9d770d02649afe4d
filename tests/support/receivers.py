"""A relying application's servers, as far as the provider calls them: a back-channel
logout endpoint that records what it is sent, and one that never answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from flask import Flask, request


class Receiver:
    """A relying party's back-channel logout endpoint (a Flask app to serve over HTTP).

    It answers 503 to its first `failures` calls, then records the tokens and says 200;
    each call takes `delay` seconds (an application slow to answer).
    """

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures, self.delay = failures, delay
        self.calls = 0
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        self._cond = threading.Condition()
        self.app = Flask("backchannel-receiver")

        @self.app.post("/<path:_path>")
        def receive(_path: str) -> tuple[str, int]:
            time.sleep(self.delay)  # the slow application itself, not a wait in a test
            with self._cond:
                self.calls += 1
                if self.calls <= self.failures:
                    return "indisponible", 503
                self.tokens.append(request.form["logout_token"])
                self.content_types.append(request.content_type or "")
                self._cond.notify_all()
            return "", 200

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        """The tokens received, once there are `count` (or at the deadline)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.tokens) >= count, timeout)
            return list(self.tokens)


class SilentServer:
    """Accepts connections and never answers: an application that hangs. Closed, its
    address refuses connections: an application that is down."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


Receivers = Callable[..., tuple[Receiver, str]]  # the `receiver` fixture: serve one
