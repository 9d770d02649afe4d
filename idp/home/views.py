"""The home page and the load balancers' health check."""

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from idp.extensions import db

bp = Blueprint("home", __name__)


@bp.get("/")
def home() -> str:
    return render_template("home.html")


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """For load balancers: 200 when the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
