"""Time in the tests: a clock given to the short-lived store (the product's one time
injection, idp/store/sql_store.py), so that entries expire when a test says; and a wait
for a condition, with a deadline, where only the wall clock can make it true."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from idp.store.sql_store import SQLStore


class Clock:
    """A Unix time that only moves when told: the SQL short-lived store's `clock`."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def store_clock(app: Flask) -> Clock:
    """Put `app`'s SQL short-lived store (on the same database) on a `Clock`, so that a
    test moves time forward to expire entries (codes, sessions, mail links, counters)
    instead of waiting. Only the entries' expiry moves: what the app reads from the wall
    clock (a token's exp, a session's deadline, a grant's dates) does not."""
    store = app.extensions["idp.store"]
    assert isinstance(store, SQLStore), "Redis keeps its own time: no clock to give it"
    clock = Clock()
    app.extensions["idp.store"] = SQLStore(store._session_factory, clock=clock)
    return clock


PassTime = Callable[[float], None]  # let so many seconds pass


def time_passer(app: Flask) -> PassTime:
    """How `seconds` pass for `app`'s short-lived store: the SQL store's clock moves
    forward; Redis expires keys by its own timer, which is then what is tested, so the
    test waits for real."""
    if isinstance(app.extensions["idp.store"], SQLStore):
        return store_clock(app).advance
    return time.sleep


def eventually(condition: Callable[[], object], timeout: float = 10,
               what: str = "the condition") -> None:
    """Poll `condition` until it holds; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: still false after {timeout} s"
        time.sleep(0.05)
