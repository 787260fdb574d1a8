"""The accounts service: a Flask app serving one schema-first GraphQL endpoint."""

import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_babel import Babel
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import ConfigError, settings_from_env
from .http import NoCookieSessions, ServiceRequest
from .serialization import OrjsonProvider

# RFC 7518 3.2: an HMAC key at least as long as the hash's output. With key pairs, SECRET_KEY
# seals the private keys (and successor refresh tokens): 256 bits.
MIN_SECRET_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64, "RS256": 32, "ES256": 32, "EdDSA": 32}
MULTIPART_ALLOWANCE = 256 * 1024


class ServiceApp(Flask):
    """Flask, remembering which views and hooks are plain functions.

    Flask asks ``inspect.iscoroutinefunction`` about every view and hook of
    every request (six calls each time here); the answer never changes.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        known = self.__dict__.setdefault("_plain_functions", set())
        if func in known:
            return func
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            known.add(func)
        return wrapped


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then ``config`` on top (tests use it)."""
    settings = {**settings_from_env(), **(config or {})}
    app = ServiceApp(__name__, static_folder=None, instance_path=settings["INSTANCE_PATH"])
    app.json = OrjsonProvider(app)
    app.request_class = ServiceRequest
    # Nothing here lives in Flask's cookie session: it is never opened, so no cookie is read.
    app.session_interface = NoCookieSessions()
    # /uploads//etc/passwd must be a plain 404, not a redirect to a merged path.
    app.url_map.merge_slashes = False
    app.config.from_mapping(settings)
    _private(Path(app.instance_path), folder=True)
    app.config["SECRET_KEY"] = _secret_key(app)
    # A body bigger than one upload plus its form fields is refused (413) before it is read.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_SIZE"] + MULTIPART_ALLOWANCE
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'accounts.sqlite3'}"
    _private_sqlite_files(app.config["SQLALCHEMY_DATABASE_URI"])
    # A failed statement's error message must not carry its parameters (password hashes,
    # token digests) into the log, unless the app runs in debug mode.
    engine_options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    engine_options.setdefault("hide_parameters", not app.debug)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options

    from .extensions import db, migrate

    db.init_app(app)
    migrations = Path(app.root_path).parent / "migrations"
    migrate.init_app(app, db, directory=str(migrations))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            sa.event.listen(db.engine, "connect", _tune_sqlite)

    from . import models  # noqa: F401  (registers the tables with the metadata)
    from .auth import Auth
    from .cli import register_commands
    from .console import bp as console_bp
    from .graphql.execution import GraphQLSettings
    from .graphql.explorer import explorer_csp, explorer_html
    from .graphql.explorer_assets import bp as explorer_assets_bp
    from .graphql.schema import build_schema
    from .health import bp as health_bp
    from .health import migration_heads
    from .http import bp, finish_response, json_http_error, json_internal_error
    from .jwks import bp as jwks_bp
    from .jwks import load_signing_keys
    from .logs import configure_logging, start_request
    from .mail import start_sender_here
    from .uploads import UploadSettings
    from .uploads import bp as uploads_bp

    app.extensions["auth"] = Auth.from_config(app.config)
    app.extensions["uploads"] = UploadSettings.from_config(app.config)
    app.extensions["graphql"] = GraphQLSettings.from_config(build_schema(), app.config, debug=app.debug)
    # Mail is rendered in each recipient's language, from the catalogs in service/translations.
    Babel(app)
    app.extensions["graphql_explorer"] = explorer_html(app.config["GRAPHQL_EXPLORER"])
    app.extensions["graphql_explorer_csp"] = explorer_csp(app.config["GRAPHQL_EXPLORER"])
    if app.config["TRUSTED_PROXY_COUNT"]:
        # Only that many proxies' X-Forwarded-For/-Proto entries are believed.
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.register_blueprint(bp)
    app.register_blueprint(uploads_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(explorer_assets_bp)
    app.register_blueprint(jwks_bp)
    if app.extensions["auth"].tokens.keys.asymmetric:
        # Before an operation's own transaction starts: a worker's first request may create the first key.
        app.before_request_funcs.setdefault(bp.name, []).append(load_signing_keys)
    app.extensions["migration_heads"] = migration_heads(migrations)
    configure_logging()
    app.before_request(start_request)
    if not app.testing:
        # The outbox's sender thread, in each worker process (tests start one when they want one).
        app.before_request(start_sender_here)
    app.after_request(finish_response)
    if app.config["CORS_ORIGINS"]:
        # Without listed origins Flask-Cors is not even installed: no hook, no header.
        from .cors import allow_origins

        allow_origins(app, app.config["CORS_ORIGINS"])
    register_commands(app)
    app.register_error_handler(HTTPException, json_http_error)
    app.register_error_handler(Exception, json_internal_error)
    return app


def _secret_key(app: Flask) -> str:
    """The configured key, or the one kept in the instance folder (made on first start)."""
    key = app.config.get("SECRET_KEY")
    if not key:
        key = _stored_secret_key(Path(app.instance_path) / "secret_key")
    algorithm = app.config["JWT_ALGORITHM"]
    minimum = MIN_SECRET_KEY_BYTES[algorithm]
    if len(key.encode()) < minimum:
        raise ConfigError(
            f"SECRET_KEY must be at least {minimum} bytes long for {algorithm}; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))"'
        )
    return key


def _stored_secret_key(path: Path) -> str:
    """Read the key file, creating it (mode 0600) if absent; safe when several workers race."""
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(64))  # 86 bytes: long enough for HS512 too
        try:
            os.link(temporary, path)  # atomic: the first process to get here wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def _private(path: Path, *, folder: bool = False) -> None:
    """Make ``path`` (a folder when ``folder``, else a file) readable by this user only.

    Created with mode 0700 or 0600 if missing; tightened if it exists with
    more (an older version's 0755 or 0644) and belongs to this user. The
    instance folder holds the signing key and, by default, the database with
    every password hash: no other local user may read either.
    """
    mode = 0o700 if folder else 0o600
    if not path.exists():
        if folder:
            path.mkdir(mode=mode, parents=True)
        elif path.parent.is_dir():  # a missing folder is the operator's to make: readyz reports it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))  # SQLite takes an empty file
        return
    status = path.stat()
    kind_matches = stat.S_ISDIR(status.st_mode) if folder else stat.S_ISREG(status.st_mode)
    if kind_matches and status.st_uid == os.getuid() and status.st_mode & 0o077:
        path.chmod(mode)


def _private_sqlite_files(url: str) -> None:
    """The SQLite database file of ``url`` and its journal files, private (0600) like the key beside it.

    SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the database
    file's own mode, so creating the database 0600 keeps them all private.
    """
    parsed = sa.engine.make_url(url)
    database = parsed.database
    in_memory = not database or database == ":memory:" or "mode=memory" in url
    if parsed.get_backend_name() != "sqlite" or in_memory:
        return
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    path = Path(database)
    _private(path)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _private(companion)


def _tune_sqlite(connection, _record) -> None:
    """Enforce foreign keys, wait for locks instead of failing, and let readers run beside a writer.

    SQLite's own lower() folds only ASCII; searches fold Cyrillic and other scripts too.
    """
    connection.create_function("lower", 1, _fold, deterministic=True)
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 15000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _fold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value
