"""The base of every page's form: WTForms' own messages in French."""

from __future__ import annotations

from flask_wtf import FlaskForm


class Form(FlaskForm):
    """A form with its CSRF token (Flask-WTF) whose built-in messages ("Ce champ est
    requis.", lengths, choices…) come from WTForms' French catalogue; the app sets
    ``WTF_I18N_ENABLED = False`` so that Flask-WTF does not look for Flask-Babel."""

    class Meta:
        locales = ("fr_FR", "fr")
