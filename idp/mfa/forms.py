"""Forms of the second factor's pages."""

from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.web.forms import Form


def _code_field(label: str) -> StringField:
    return StringField(label, validators=[DataRequired("Veuillez saisir le code."),
                                          Length(max=64)],
                       render_kw={"autocomplete": "one-time-code", "autofocus": True,
                                  "spellcheck": "false"})


class ChallengeForm(Form):
    """After the password: the code of the app, or a recovery code."""

    code = _code_field("Code de vérification")
    remember = BooleanField("Se souvenir de cet appareil")


class EnrolForm(Form):
    """The first code of the app, which ends the enrolment."""

    code = _code_field("Code à 6 chiffres affiché par l'application")
    next = HiddenField()  # where the person was going (an application asking eidas2)


class ProofForm(Form):
    """What changes the second factor (disable it, new recovery codes) asks first."""

    proof = PasswordField(
        "Mot de passe actuel ou code de vérification",
        validators=[DataRequired("Veuillez saisir votre mot de passe ou un code."),
                    Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
