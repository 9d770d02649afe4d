"""Forms of the Profils pages, in the guide's words; every value is checked on the
server against the choices the page offered (the administrator's entities, the
catalogue's roles), with the French message next to the field."""

from __future__ import annotations

from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from idp.directory.profiles import STATE_LABELS
from idp.web.forms import Form, MultiCheckboxField

TEXT_MAX = 120


def _optional_text(label: str) -> StringField:
    return StringField(label, [Optional(), Length(
        max=TEXT_MAX, message=f"Ce champ ne peut dépasser {TEXT_MAX} caractères.")])


class SearchForm(Form):
    """« Recherche de profils » (a GET form: no CSRF token, nothing changes). The
    « Entité » and « Rôle » choices are set by the page."""

    class Meta:
        csrf = False

    nom = _optional_text("Nom, prénom ou identifiant")
    libelle = _optional_text("Libellé du profil")
    etat = SelectField("État", default="", choices=[
        SelectChoice("", "Tous"),
        *[SelectChoice(state.value, label) for state, label in STATE_LABELS.items()]])
    entite = SelectField("Entité", default="")
    role = SelectField("Rôle", default="")


class DomainForm(Form):
    """« Sélectionner un domaine » (GET): shows the domain's roles."""

    class Meta:
        csrf = False

    domaine = SelectField("Domaine")
    retour = HiddenField()


class HabilitationsForm(Form):
    """« Modifier les habilitations du profil »: tick among the « Rôles attribuables »,
    untick among the « Rôles attribués », Enregistrer. The choices are the domain's
    roles as the page showed them."""

    domaine = HiddenField()
    retour = HiddenField()  # the login to resume once the role is given (access-denied page)
    ajouter = MultiCheckboxField("Rôles attribuables", coerce=int)
    attribues = MultiCheckboxField("Rôles attribués", coerce=int)
