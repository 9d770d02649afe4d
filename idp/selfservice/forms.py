"""Forms of the account holder's pages (CSRF-protected by Flask-WTF)."""

from wtforms import EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from idp.web.forms import Form
from idp.web.password_links import LinkCodeForm, NewPasswordForm


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _email_field(label: str = "Adresse électronique", required: bool = True) -> EmailField:
    presence = (DataRequired("Veuillez renseigner votre adresse électronique.") if required
                else Optional())
    return EmailField(
        label,
        validators=[presence, Length(max=255),
                    Regexp(r"^[^@\s]+@[^@\s]+$",
                           message="Saisissez une adresse électronique valide, "
                                   "par exemple prenom.nom@exemple.fr.")],
        filters=[_strip], render_kw={"autocomplete": "email"},
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


def _current_password_field() -> PasswordField:
    return PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Veuillez saisir votre mot de passe actuel."),
                    Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(NewPasswordForm):
    current = _current_password_field()


class EmailConfirmForm(LinkCodeForm):
    """The email-change link's page: its code, then, in a browser not signed in to the
    account that asked, that account's password (empty until it is asked)."""

    password = PasswordField("Mot de passe", validators=[Optional(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


def _phone_field(label: str) -> StringField:
    return StringField(
        label,
        validators=[Optional(), Length(max=32),
                    Regexp(r"^\+?[0-9][0-9 .()-]{5,30}$",
                           message="Saisissez un numéro de téléphone, par exemple "
                                   "03 86 12 34 56.")],
        filters=[_strip], render_kw={"autocomplete": "tel", "type": "tel"},
    )


def _name_field(label: str, what: str, autocomplete: str) -> StringField:
    return StringField(label, validators=[DataRequired(f"Veuillez renseigner votre {what}."),
                                          Length(max=120)],
                       filters=[_strip], render_kw={"autocomplete": autocomplete})


class PersonalInformationForm(Form):
    """Mes informations personnelles (the address is changed by a link: EmailChangeForm)."""

    family_name = _name_field("Nom", "nom", "family-name")
    given_name = _name_field("Prénom", "prénom", "given-name")
    phone = _phone_field("Téléphone")
    address = TextAreaField("Adresse", validators=[Optional(), Length(max=500)],
                            filters=[_strip], render_kw={"autocomplete": "street-address",
                                                         "rows": 3})


class EmailChangeForm(Form):
    """A new address, asked with the current password (ASVS 7.5.1: whoever finds the
    session open must not redirect the account's mail, then its password reset)."""

    current = _current_password_field()
    email = _email_field("Nouvelle adresse électronique")
    confirm = EmailField(
        "Resaisie du courriel",
        validators=[DataRequired("Veuillez saisir une seconde fois la nouvelle adresse."),
                    EqualTo("email", "Les deux adresses saisies sont différentes.")],
        render_kw={"autocomplete": "email"},
    )


class ProfileContactForm(Form):
    label = StringField("Libellé du profil",
                        validators=[DataRequired("Veuillez renseigner le libellé du profil."),
                                    Length(max=255)], filters=[_strip])
    email = _email_field("Adresse électronique du profil", required=False)
    phone = _phone_field("Téléphone du profil")


class MergeSignInForm(Form):
    """Regroupement de compte: the second account's identifier and password."""

    identifier = StringField(
        "Identifiant Plage du second compte",
        validators=[DataRequired("Veuillez renseigner l'identifiant de votre second compte."),
                    Length(max=32)],
        filters=[_strip], render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    password = PasswordField(
        "Mot de passe du second compte",
        validators=[DataRequired("Veuillez saisir le mot de passe de votre second compte."),
                    Length(max=256)],
        render_kw={"autocomplete": "off"},
    )


class CheckMailForm(Form):
    """Vérifier mon courriel, for a visitor who is not signed in."""

    email = _email_field()
