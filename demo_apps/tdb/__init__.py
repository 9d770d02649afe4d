"""A demo *Tableau de bord ESMS*: the guide's rights table applied to the profile chosen
at login (token claims `entity` and `roles`, domain TDBESMS), with a profile switch.

    flask --app demo_apps.tdb run --port 5002    (or `python -m demo_apps` for both)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from demo_apps.base import create_demo_app
from demo_apps.config import load_settings
from demo_apps.tdb import campaign
from demo_apps.tdb.rights import ROLE_PROFILES
from demo_apps.tdb.views import bp
from idp.rp import PlageRP

DEFAULTS: dict[str, Any] = {"port": 5002}


def create_app(overrides: dict[str, Any] | None = None,
               config_path: Path | None = None) -> Flask:
    settings = load_settings("tdb", DEFAULTS, overrides, config_path)
    app, engine = create_demo_app(
        __name__, settings, PlageRP(),
        PLAGE_APP_NAME="Tableau de bord ESMS",
        PLAGE_HOME="/tableau",
        PLAGE_ROLE_LABELS=ROLE_PROFILES,
    )
    campaign.setup(engine)
    app.register_blueprint(bp)
    return app
