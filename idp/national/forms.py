"""Forms of the national and regional administration pages. Their field names are the
import's columns (`importer.COLUMNS`), so that the import's checks put their messages
next to the field at fault."""

from __future__ import annotations

from wtforms import FileField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from idp.directory.enums import EntityType
from idp.directory.geography import departements, regions
from idp.web.forms import Form

TYPE_LABELS = {
    EntityType.ET: "Établissement géographique (ET)",
    EntityType.EJ: "Entité juridique (EJ)",
    EntityType.ARS: "Agence régionale de santé (ARS)",
    EntityType.CD: "Conseil départemental (CD)",
    EntityType.NAT: "Opérateur national",
}


def _text(label: str, length: int, required: str | None = None) -> StringField:
    first = DataRequired(required) if required else Optional()
    return StringField(label, [first, Length(
        max=length, message=f"Ce champ ne peut dépasser {length} caractères.")])


def region_choices(empty: str) -> list[SelectChoice]:
    return [SelectChoice("", empty),
            *[SelectChoice(code, f"{code} – {name}") for code, name in regions().items()]]


def departement_choices(empty: str) -> list[SelectChoice]:
    return [SelectChoice("", empty), *[SelectChoice(code, f"{code} – {name}")
                                       for code, (name, _region) in departements().items()]]


def type_choices(empty: str) -> list[SelectChoice]:
    return [SelectChoice("", empty), *[SelectChoice(t.value, label)
                                       for t, label in TYPE_LABELS.items()]]


class EntitySearchForm(Form):
    """« Rechercher une entité » (GET: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    texte = _text("FINESS, code, raison sociale ou ville", 120)
    type = SelectField("Type", default="", choices=type_choices("Tous"))
    region = SelectField("Région", default="", choices=region_choices("Toutes"))
    departement = SelectField("Département", default="",
                              choices=departement_choices("Tous"))


class EntityForm(Form):
    """An entity, as one row of a FINESS extract."""

    finess = _text("Numéro FINESS", 12)
    code = _text("Code (entité sans FINESS)", 32)
    type = SelectField("Type", choices=type_choices("Choisissez un type"),
                       validators=[DataRequired("Choisissez le type de l'entité.")])
    name = _text("Raison sociale", 255, "La raison sociale est obligatoire.")
    city = _text("Ville", 120)
    postal_code = _text("Code postal", 10)
    departement = SelectField("Département", default="",
                              choices=departement_choices("Déduit du FINESS"))
    region = SelectField("Région", default="", choices=region_choices("Déduite du département"))
    finess_ej = _text("FINESS de l'entité juridique (EJ), pour un établissement", 32)
    managing_og = _text("FINESS de l'organisme gestionnaire (OG), s'il n'est pas l'EJ", 32)


class ImportForm(Form):
    """« Importer un extrait FINESS »: a CSV file in the format of `idp entities import`."""

    fichier = FileField("Fichier CSV (UTF-8, séparateur ; ou ,)")


class AppointForm(Form):
    """« Nommer l'administrateur principal »: one of the entity's profiles."""

    profil = SelectField("Profil", coerce=int,
                         validators=[DataRequired("Choisissez un profil de l'entité.")])


class DomainForm(Form):
    """« Ajouter un domaine »."""

    domain = _text("Code du domaine", 32, "Le code est obligatoire.")
    domain_label = _text("Libellé", 255, "Le libellé est obligatoire.")
    description = TextAreaField("Description", [Optional(), Length(max=2000)])


class RoleForm(Form):
    """« Ajouter un rôle » to a domain of the catalogue."""

    role_domain = SelectField("Domaine", validators=[DataRequired("Choisissez un domaine.")])
    role = _text("Code du rôle", 64, "Le code est obligatoire.")
    label = _text("Libellé", 255, "Le libellé est obligatoire.")
    exclusive = _text("Groupe d'exclusivité (facultatif)", 64)
