"""The filters of Historique (a GET form: no CSRF token, nothing changes). A value that
cannot be used is shown with its French message next to the field and left out of the
filter."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from idp.core.audit import ACTION_LABELS
from idp.web.forms import Form

TEXT_MAX = 120


def _optional_text(label: str) -> StringField:
    return StringField(label, [Optional(), Length(
        max=TEXT_MAX, message=f"Ce champ ne peut dépasser {TEXT_MAX} caractères.")])


class HistoryForm(Form):
    class Meta:
        csrf = False

    du = DateField("Du", [Optional()])
    au = DateField("Au (inclus)", [Optional()])
    action = SelectField("Action", default="", choices=[
        SelectChoice("", "Toutes"),
        *[SelectChoice(code, label)
          for code, label in sorted(ACTION_LABELS.items(), key=lambda item: item[1])]])
    auteur = _optional_text("Auteur (identifiant)")
    concerne = _optional_text("Personne concernée (identifiant, ou nom et prénom)")
    entite = _optional_text("Entité (FINESS ou code)")

