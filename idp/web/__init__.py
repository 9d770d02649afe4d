"""The provider's own pages that belong to no domain in particular."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from idp.web import views  # noqa: E402,F401  (registers the routes on bp)
