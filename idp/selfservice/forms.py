"""Forms of the account holder's pages (CSRF-protected by Flask-WTF)."""

from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from idp.web.forms import Form


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


class ResetCodeForm(Form):
    """The code of a reset link: put here by the page's script from the link, or pasted
    from the mail by hand."""

    code = StringField(
        "Code de réinitialisation",
        validators=[DataRequired("Veuillez coller le code de réinitialisation reçu par "
                                 "courriel."),
                    Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )


class NewPasswordForm(Form):
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


class ResetPasswordForm(NewPasswordForm):
    code = HiddenField()  # the link's code, checked again when the form comes back


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Veuillez saisir votre mot de passe actuel."),
                    Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
