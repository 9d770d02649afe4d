"""Forms of the account holder's pages (CSRF-protected by Flask-WTF)."""

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from idp.web.forms import Form
from idp.web.password_links import NewPasswordForm


def _email_field() -> EmailField:
    return EmailField(
        "Adresse électronique",
        validators=[DataRequired("Veuillez renseigner votre adresse électronique."),
                    Length(max=255),
                    Regexp(r"^[^@\s]+@[^@\s]+$",
                           message="Saisissez une adresse électronique valide, "
                                   "par exemple prenom.nom@exemple.fr.")],
        render_kw={"autocomplete": "email"},
    )


class LostIdentifierForm(Form):
    email = _email_field()


class ForgotPasswordForm(Form):
    identifier = StringField(
        "Identifiant Plage",
        validators=[DataRequired("Veuillez renseigner votre identifiant Plage."),
                    Length(max=32)],
        render_kw={"autocomplete": "username", "inputmode": "numeric"},
    )
    email = _email_field()


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Veuillez saisir votre mot de passe actuel."),
                    Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
