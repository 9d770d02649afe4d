"""Reading the provider's HTML pages: their forms, their CSRF token.

One reader for every test, whatever drives the pages (the Flask test client, requests,
the harness of tests/support/oidc.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # hidden/text inputs, checked radios
    radios: dict[str, list[str]] = field(default_factory=dict)  # name -> every value offered
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=a.get("method", "get"))
            self.forms.append(self._current)
            return
        form = self._current
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind == "radio":
                form.radios.setdefault(name, []).append(a.get("value", ""))
                if "checked" in a:
                    form.fields[name] = a.get("value", "")
            elif kind in ("submit", "button"):
                form.buttons.append((name, a.get("value", "")))
            elif kind != "checkbox" or "checked" in a:
                form.fields[name] = a.get("value", "")
        elif tag == "button" and name:
            form.buttons.append((name, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def csrf_token(html: str) -> str:
    """The CSRF token of the page's forms (they all carry the session's one)."""
    token = next((f.fields["csrf_token"] for f in forms_of(html) if "csrf_token" in f.fields),
                 None)
    assert token, "no CSRF token on the page"
    return token


def form_with(html: str, name: str) -> Form:
    """The first form with a field or a button called `name` (a page may have others,
    e.g. the profile menu in the header)."""
    for form in forms_of(html):
        if name in form.fields or name in form.radios or any(b[0] == name for b in form.buttons):
            return form
    raise AssertionError(f"no form with {name!r} on the page")
