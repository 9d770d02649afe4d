"""The base of every page's form: WTForms' own messages in French; shared fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget


class Form(FlaskForm):
    """A form with its CSRF token (Flask-WTF) whose built-in messages ("Ce champ est
    requis.", lengths, choices…) come from WTForms' French catalogue; the app sets
    ``WTF_I18N_ENABLED = False`` so that Flask-WTF does not look for Flask-Babel."""

    class Meta:
        locales = ("fr_FR", "fr")


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (« Applications », « Rôles attribuables »…)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
