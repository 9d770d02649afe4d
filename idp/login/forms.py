from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.web.forms import Form


class LoginForm(Form):
    identifier = StringField(
        "Identifiant Plage",
        validators=[DataRequired("Veuillez renseigner votre identifiant Plage."),
                    Length(max=32)],
        render_kw={"autocomplete": "username", "inputmode": "numeric", "autofocus": True},
    )
    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired("Veuillez renseigner votre mot de passe."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    interaction = HiddenField()  # the authorization request this login is for, if any
