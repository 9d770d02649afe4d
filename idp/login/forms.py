from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
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
