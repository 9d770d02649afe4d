"""No redirect leaves the site: the one checker of the provider and the kit.

A `next` target is accepted only if, once the browser has read the `Location` header the
way browsers do (tabs and newlines dropped, control characters and spaces trimmed,
backslashes read as slashes), it still points at this site. Property-tested over control
characters, backslashes, encodings and schemes; then checked where people meet it: the
provider's login page and the kit's login route.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask, redirect, request
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idp.extensions import db
from idp.rp.redirects import local_path
from tests.support import directory as d
from tests.support.html import csrf_token

BASE = "https://plage.example.fr/connexion"
ATTACKS = [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\\evil.example",
    "\\/evil.example", "//evil.example", "///evil.example", "https://evil.example/",
    "javascript:alert(1)", "data:text/html,x", " /x", "\t//evil.example", "/\x00/evil",
    "/\x7f/evil", "/\u0085/evil", "/\u200b/evil", "/\ufeff/evil", "evil.example", "",
]


def as_a_browser_reads(location: str) -> tuple[str, str]:
    """(scheme, host) a browser navigates to from `location` on BASE (WHATWG URL)."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub(r"[\t\n\r]", "", cleaned).replace("\\", "/")
    target = urlsplit(urljoin(BASE, cleaned))
    return target.scheme, target.netloc


def redirecting_app() -> Flask:
    app = Flask("redirects")

    @app.get("/go")
    def go():  # type: ignore[no-untyped-def]
        return redirect(local_path(request.args.get("next")) or "/")

    return app


URL_ALPHABET = st.sampled_from(
    [*"/\\:.@?#%&=-_~", "\t", "\n", "\r", "\x00", "\x0b", "\x7f", "\u0085",
     "\u2028", "\u200b", " ", "\u3000", *"evilhtpsjav"])
paths = st.one_of(
    st.text(URL_ALPHABET, max_size=24),
    st.builds(lambda a, b: a + b, st.sampled_from(["/", "//", "/\\", "\\", "/\t/", "http:"]),
              st.text(URL_ALPHABET, max_size=20)),
    st.text(max_size=24),
)


@settings(max_examples=400, deadline=None)
@given(target=paths)
@example(target="/\t/evil.example")
def test_an_accepted_target_stays_on_the_site_as_the_browser_reads_it(target: str) -> None:
    accepted = local_path(target)
    if accepted is None:
        return
    assert accepted == target
    client = redirecting_app().test_client()
    response = client.get("/go", query_string={"next": target})
    assert response.status_code == 302
    assert as_a_browser_reads(response.headers["Location"]) == ("https", "plage.example.fr")


@pytest.mark.parametrize("target", ATTACKS)
def test_known_ways_out_are_refused(target: str) -> None:
    assert local_path(target) is None


@pytest.mark.parametrize("target", [
    "/compte/", "/authorize/resume/abc_-123", "/compte?onglet=profils#p2",
    "/connexion?next=%2F%2Fevil.example", "/%09/stays-a-path", "/é/accentué",
])
def test_paths_of_the_site_are_kept(target: str) -> None:
    assert local_path(target) == target


def test_the_provider_login_page_does_not_follow_a_tab_trick(sqlite_app: Flask) -> None:
    with sqlite_app.app_context():
        identifier = d.account("Camille", "Martin", "camille.martin@example.org").identifier
        db.session.commit()
    client = sqlite_app.test_client()
    page = client.get("/connexion", query_string={"next": "/\t/evil.example"})
    answer = client.post("/connexion", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                             "identifier": identifier,
                                             "password": d.PASSWORD,
                                             "next": "/\t/evil.example"})
    assert answer.status_code == 302
    assert as_a_browser_reads(answer.headers["Location"]) == ("https", "plage.example.fr")
    # Already signed in: the page redirects at once, to the site's own home.
    again = client.get("/connexion", query_string={"next": "/\t/evil.example"})
    assert as_a_browser_reads(again.headers["Location"]) == ("https", "plage.example.fr")
