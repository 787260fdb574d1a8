"""Health endpoints for load balancers: ``/healthz`` (the process is up) and ``/readyz`` (it can serve)."""

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("service.health")


def migration_heads(migrations_folder: Path) -> frozenset[str]:
    """The head revisions of the migrations shipped with this code (read once at start-up)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_folder))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


@bp.get("/healthz")
def healthz() -> Response:
    """200 whenever the process answers; it looks at nothing else."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    """200 when the database answers and its schema is at the migration head; else 503 and why."""
    expected = current_app.extensions["migration_heads"]
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("Readiness check: the database does not answer (%s)", type(error).__name__)
        return _unavailable("The database does not answer.")
    try:
        applied = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        db.session.rollback()
        applied = set()
    if applied != expected:
        return _unavailable(
            f"The database schema is at {', '.join(sorted(applied)) or 'no revision'}; this code expects "
            f"{', '.join(sorted(expected))}. Run: flask --app wsgi db upgrade"
        )
    return jsonify({"status": "ready"})


def _unavailable(reason: str) -> tuple[Response, int]:
    return jsonify({"status": "unavailable", "reason": reason}), 503
