"""Imports every model module so that `db.metadata` describes the whole schema
(for Alembic and for the tests). Add new model modules here."""

from idp.clients import models as client_models  # noqa: F401
from idp.consent import models as consent_models  # noqa: F401
from idp.core import audit as audit_models  # noqa: F401
from idp.directory import models as directory_models  # noqa: F401
from idp.extensions import db
from idp.keys import models as key_models  # noqa: F401
from idp.mfa import models as mfa_models  # noqa: F401
from idp.oidc import models as oidc_models  # noqa: F401
from idp.outbox import models as outbox_models  # noqa: F401
from idp.store import sql_store  # noqa: F401

metadata = db.metadata
