"""Brute force on the login: a lockout that holds and cannot be turned against users.

Scenarios of the security review: parallel guesses, guesses spread over many addresses,
made-up identifiers from a hospital's single address, and the holder who must still get
in. Time moves by a clock given to the store, not by sleeping.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from html import unescape
from typing import Any

import pytest
import requests
from flask import Flask

from idp.extensions import db
from idp.outbox import service as outbox
from tests.support import directory as d
from tests.support.clock import Clock, store_clock
from tests.support.html import csrf_token

WRONG = "Pas-le-bon-mot-de-passe-1"


@pytest.fixture
def world(make_app: Any, sqlite_url: str, smtp_sink: Any) -> tuple[Flask, str, Clock]:
    app = make_app(sqlite_url, security={"login_max_failures_per_ip": 10},
                   mail={"backend": "smtp", "smtp_host": smtp_sink.host,
                         "smtp_port": smtp_sink.port})
    clock = store_clock(app)
    with app.app_context():
        identifier = d.account("Élodie", "Martin", "elodie.martin@example.org").identifier
        db.session.commit()
    return app, identifier, clock


def attempt(app: Flask, identifier: str, password: str, ip: str) -> tuple[int, str]:
    client = app.test_client()
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/connexion", environ_base=environ).get_data(as_text=True)
    answer = client.post("/connexion", environ_base=environ, data={
        "csrf_token": csrf_token(page), "identifier": identifier, "password": password})
    outbox.wait_idle()
    return answer.status_code, unescape(answer.get_data(as_text=True))


def test_parallel_guesses_check_no_more_passwords_than_the_limit(
        make_app: Any, sqlite_url: str, live_server: Any) -> None:
    app = make_app(sqlite_url)
    with app.app_context():
        identifier = d.account("Élodie", "Martin").identifier
        db.session.commit()
    base = live_server(app)

    def guess(_: int) -> int:
        http = requests.Session()
        token = csrf_token(http.get(base + "/connexion", timeout=30).text)
        return http.post(base + "/connexion", timeout=30, allow_redirects=False, data={
            "csrf_token": token, "identifier": identifier,
            "password": WRONG}).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(guess, range(40)))
    assert statuses.count(401) <= 5  # passwords actually checked
    assert statuses.count(429) >= 35


def test_a_pair_is_locked_but_the_holder_gets_in_from_elsewhere(world: Any) -> None:
    app, identifier, _ = world
    for _ in range(5):
        assert attempt(app, identifier, WRONG, "198.51.100.7")[0] == 401
    status, page = attempt(app, identifier, d.PASSWORD, "198.51.100.7")
    assert status == 429 and "Trop de tentatives de connexion infructueuses" in page
    assert attempt(app, identifier, d.PASSWORD, "203.0.113.20")[0] == 302


def test_guesses_from_many_addresses_are_slowed_not_locked_and_the_holder_is_told(
        world: Any, smtp_sink: Any) -> None:
    app, identifier, clock = world
    answers = [attempt(app, identifier, WRONG, f"198.51.100.{n}") for n in range(1, 31)]
    checked = [status for status, _ in answers if status == 401]
    slowed = [page for status, page in answers if status == 429]
    assert len(checked) <= 7  # five, then one per delay (the clock does not move)
    assert slowed and all("patientez" in page for page in slowed)
    [warning] = smtp_sink.received()
    assert warning["To"] == "elodie.martin@example.org"
    assert warning["Subject"] == "PLAGE – Tentatives de connexion sur votre compte"

    clock.now += 61  # the longest delay
    assert attempt(app, identifier, d.PASSWORD, "203.0.113.20")[0] == 302
    assert len(smtp_sink.received()) == 1  # told once


def test_made_up_identifiers_slow_an_address_without_locking_its_users(
        world: Any) -> None:
    app, identifier, clock = world
    hospital = "192.0.2.99"
    for n in range(11):  # an attacker behind the hospital's NAT
        attempt(app, f"{9000000 + n}", WRONG, hospital)
    status, page = attempt(app, identifier, d.PASSWORD, hospital)
    assert status == 429 and "patientez" in page  # slowed...
    clock.now += 61
    assert attempt(app, identifier, d.PASSWORD, hospital)[0] == 302  # ...never locked
    assert attempt(app, identifier, d.PASSWORD, "203.0.113.20")[0] == 302


def test_unknown_and_known_identifiers_get_the_same_answers(world: Any) -> None:
    app, identifier, _ = world
    known = [attempt(app, identifier, WRONG, "198.51.100.1")[0] for _ in range(6)]
    unknown = [attempt(app, "9999999", WRONG, "198.51.100.2")[0] for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]
