"""A demo *SAGA Directeurs*: first-login pairing, account chooser, personal space.

    flask --app demo_apps.saga run --port 5001    (or `python -m demo_apps` for both)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from demo_apps.base import create_demo_app
from demo_apps.config import load_settings
from demo_apps.saga import accounts
from demo_apps.saga.views import bp
from idp.rp import PlageRP

DEFAULTS: dict[str, Any] = {
    "port": 5001,
    "support_label": "Administrateur CNG",
    "support_email": "cng-saga@sante.gouv.fr",
    "create_accounts": False,  # True: a director without invitation gets an account
    "admins": ["715938"],  # PLAGE identifiers allowed on /admin/appairages
}


def create_app(overrides: dict[str, Any] | None = None,
               config_path: Path | None = None) -> Flask:
    settings = load_settings("saga", DEFAULTS, overrides, config_path)
    plage = PlageRP()
    accounts.install_hooks(plage)
    app, engine = create_demo_app(
        __name__, settings, plage,
        PLAGE_APP_NAME="SAGA Directeurs",
        PLAGE_ALWAYS_CHOOSE_ACCOUNT=True,  # as in the guide, even for one account
        PLAGE_SUPPORT_LABEL=settings["support_label"],
        PLAGE_SUPPORT_EMAIL=settings["support_email"],
        PLAGE_HOME="/espace",
    )
    accounts.setup(engine)
    app.register_blueprint(bp)
    return app
