"""Forms of the second factor's pages."""

from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
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


def _proof_field(**kwargs: str) -> PasswordField:
    """What a person at an unlocked screen does not know: asked before removing a factor."""
    return PasswordField(
        "Mot de passe actuel ou code de vérification",
        validators=[DataRequired("Veuillez saisir votre mot de passe ou un code."),
                    Length(max=256)],
        render_kw={"autocomplete": "current-password"}, **kwargs,
    )


class ProofForm(Form):
    """What changes the second factor (disable the app, new recovery codes) asks first."""

    proof = _proof_field()


# --- passkeys -------------------------------------------------------------------------

# The browser's answer, put in the form by idp/static/passkeys.js (JSON, base64url).
_ANSWER_VALIDATORS = [
    DataRequired("Votre navigateur n'a pas transmis de clé d'accès : réessayez, ou "
                 "utilisez un navigateur récent."),
    Length(max=16_000),
]


class PasskeyAnswerForm(Form):
    """A passkey used to sign in (after the password, or without it)."""

    credential = HiddenField(validators=_ANSWER_VALIDATORS)
    next = HiddenField()


class PasskeyRegisterForm(Form):
    name = StringField(
        "Nom de la clé d'accès",
        validators=[DataRequired("Veuillez nommer votre clé d'accès."), Length(max=64)],
        render_kw={"autocomplete": "off", "maxlength": 64},
    )
    credential = HiddenField(validators=_ANSWER_VALIDATORS)
    next = HiddenField()  # where the person was going (an application asking eidas2)


class PasskeyRemoveForm(Form):
    passkey = SelectField("Clé d'accès à supprimer", coerce=int)
    proof = _proof_field(id="passkey-proof")  # beside the disable form's own « proof »
