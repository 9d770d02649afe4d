"""Forms of the request pages, in the guide's words (CSRF-protected by Flask-WTF).

Every field is checked here, on the server, with its French message shown next to it;
the page's script only helps to choose the entity.
"""

from __future__ import annotations

from typing import Any

from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from idp.directory.enums import RequestStatus
from idp.directory.models import Entity
from idp.extensions import db
from idp.web.forms import Form, MultiCheckboxField

NAME_MAX, LABEL_MAX, EMAIL_MAX, PHONE_MAX, TEXT_MAX = 120, 255, 255, 32, 2000
ENTITY_FROM_LIST = ("Choisissez l'entité dans la liste proposée (après la saisie d'au moins "
                    "3 caractères) : la saisie libre n'est pas acceptée.")
STATUS_LABELS = {
    RequestStatus.PENDING: "En attente de création",
    RequestStatus.ACCEPTED: "Acceptée",
    RequestStatus.REFUSED: "Refusée",
    RequestStatus.WITHDRAWN: "Retirée",
}


def _too_long(limit: int) -> Length:
    return Length(max=limit, message=f"Ce champ ne peut dépasser {limit} caractères.")


def _required(what: str) -> DataRequired:
    return DataRequired(f"Veuillez renseigner {what}.")


def _name(label: str, what: str) -> StringField:
    return StringField(label, [_required(what), _too_long(NAME_MAX)])


class NameForm(Form):
    """Step 1 of « Créer un compte »: the duplicate check."""

    given_name = _name("Prénom", "votre prénom")
    family_name = _name("Nom", "votre nom")


class ProfileRequestForm(Form):
    """« + Demander un profil »: what a signed-in person fills in."""

    entity = HiddenField()  # the code of the entity chosen in the list
    entity_search = StringField("Entité", [_too_long(LABEL_MAX)],
                                render_kw={"autocomplete": "off"})
    wants_ape = RadioField(
        "Envoyer une demande pour devenir administrateur principal (APE ou AP) de cette "
        "entité ?", choices=[SelectChoice("oui", "Oui"), SelectChoice("non", "Non")], default="non",
        validators=[DataRequired("Répondez par Oui ou par Non.")])
    label = StringField("Libellé pour votre profil",
                        [_required("le libellé de votre profil"), _too_long(LABEL_MAX)])
    applications = MultiCheckboxField(
        "Applications", validate_choice=False,
        validators=[DataRequired("Choisissez au moins une application.")])
    comment = TextAreaField("Commentaire", [Optional(), _too_long(TEXT_MAX)])

    def chosen_entity(self) -> Entity | None:
        code = (self.entity.data or "").strip()
        if not code or len(code) > 32:
            return None
        entity = db.session.query(Entity).filter_by(code=code, active=True).one_or_none()
        return entity

    def validate_entity_search(self, field: Any) -> None:
        if self.chosen_entity() is None:
            raise ValidationError(ENTITY_FROM_LIST)

    def validate_applications(self, field: Any) -> None:
        known = {choice.value for choice in self.applications.choices or []}
        if not set(field.data or []) <= known:
            raise ValidationError("Choisissez les applications dans la liste.")


class AccountRequestForm(ProfileRequestForm):
    """« Créer un compte », step 2: the request form with the personal part."""

    family_name = _name("Nom", "votre nom")
    given_name = _name("Prénom", "votre prénom")
    email = StringField(
        "Courriel", [_required("votre adresse électronique"), _too_long(EMAIL_MAX),
                     Regexp(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$",
                            message="Saisissez une adresse électronique valide, par "
                                    "exemple prenom.nom@exemple.fr.")],
        render_kw={"autocomplete": "email", "type": "email"})
    email_confirm = StringField(
        "Resaisie du courriel",
        [_required("une seconde fois votre adresse électronique"),
         EqualTo("email", "Les deux adresses électroniques saisies sont différentes.")],
        render_kw={"autocomplete": "off", "type": "email"})
    phone = StringField(
        "Téléphone", [_required("votre numéro de téléphone"), _too_long(PHONE_MAX),
                      Regexp(r"^\+?[0-9](?:[ .-]?[0-9]){8,14}$",
                             message="Saisissez un numéro de téléphone valide, par "
                                     "exemple 03 86 12 34 56.")],
        render_kw={"autocomplete": "tel", "type": "tel"})
    address = TextAreaField("Adresse", [Optional(), _too_long(TEXT_MAX)])


class DecisionForm(Form):
    comment = TextAreaField("Commentaire de la décision", [Optional(), _too_long(TEXT_MAX)])


class QueueFilterForm(Form):
    """The queue's filters (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    etat = SelectField("État de la demande", default=RequestStatus.PENDING.value,
                       choices=[SelectChoice("", "Tous"), *[SelectChoice(s.value, label)
                                                      for s, label in STATUS_LABELS.items()]])
    du = DateField("Demandée depuis le", [Optional()])
    au = DateField("jusqu'au", [Optional()])
    nom = StringField("Nom ou prénom", [Optional(), _too_long(NAME_MAX)])
    entite = StringField("Entité (nom ou finess)", [Optional(), _too_long(LABEL_MAX)])
