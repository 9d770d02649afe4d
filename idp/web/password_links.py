"""The page of a link sent by mail to choose a password: « Mot de passe oublié ? » and
the first password of an accepted newcomer share it.

The link carries its code after `#`, which browsers never send: no access log, proxy or
Referer header keeps it. The page comes without it; its script (`link_code.js`) moves
the code into the form and posts it, or the person pastes it from the mail. The code is
then checked, and the password form carries it back in a hidden field; it is used up
only when the new password is accepted, so that of two submissions one applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from idp.directory.models import Account
from idp.directory.passwords import WeakPassword, check_password_policy
from idp.web.forms import Form
from idp.web.links import MailLinks


class LinkCodeForm(Form):
    code = StringField(
        "Code reçu par courriel",
        validators=[DataRequired("Veuillez coller le code indiqué dans le courriel reçu."),
                    Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )


class NewPasswordForm(Form):
    """A new password typed twice (also the base of « Modifier mon mot de passe »)."""

    password = PasswordField(
        "Nouveau mot de passe",
        validators=[DataRequired("Veuillez choisir un nouveau mot de passe."),
                    Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirmation du nouveau mot de passe",
        validators=[DataRequired("Veuillez saisir une seconde fois le nouveau mot de passe."),
                    EqualTo("password", "Les deux mots de passe saisis sont différents.")],
        render_kw={"autocomplete": "new-password"},
    )


class LinkPasswordForm(NewPasswordForm):
    code = HiddenField()  # the link's code, checked again when the form comes back


def min_length() -> int:
    return current_app.config["IDP"]["security"]["password_min_length"]


@dataclass(frozen=True)
class PasswordLink:
    """One kind of link: its store of codes, the account a live code is for, what
    choosing the password does, and the words of its pages."""

    links: MailLinks
    account_of: Callable[[dict[str, Any] | None], Account | None]
    # Sets the password of the account (the code already used up), commits, and answers.
    apply: Callable[[Account, str], Response]
    endpoint: str  # the page's own, where its forms post
    title: str
    invalid_template: str  # "Ce lien n'est plus valable", in the words of the link's mail

    def serve(self) -> Response:
        """The link's page, for GET and for both of its forms."""
        if "password" not in request.form:
            code_form = LinkCodeForm()
            if not code_form.validate_on_submit():
                return self._page("links/code.html", 400 if request.method == "POST" else 200,
                                  form=code_form)
            code = code_form.code.data.strip()
            account = self.account_of(self.links.peek(code))
            if account is None:
                return self._page(self.invalid_template, 400)
            return self._password_page(LinkPasswordForm(formdata=None, code=code), account, 200)
        form = LinkPasswordForm()
        account = self.account_of(self.links.peek(form.code.data or ""))
        if account is None:
            return self._page(self.invalid_template, 400)
        if form.validate_on_submit():
            try:
                check_password_policy(form.password.data, min_length())
            except WeakPassword as exc:
                form.password.errors.append(str(exc))
            else:
                account = self.account_of(self.links.take(form.code.data))
                if account is None:
                    return self._page(self.invalid_template, 400)
                return self.apply(account, form.password.data)
        return self._password_page(form, account, 400)

    def _password_page(self, form: LinkPasswordForm, account: Account, status: int) -> Response:
        return self._page("links/password.html", status, form=form, account=account,
                          min_length=min_length())

    def _page(self, template: str, status: int, **context: Any) -> Response:
        response = current_app.make_response(
            (render_template(template, link=self, **context), status))
        # No-store: the password page holds the code (in its hidden field).
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response
