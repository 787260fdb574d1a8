"""``/.well-known/jwks.json``: the public keys that verify our access tokens (RFC 7517)."""

from flask import Blueprint, Response, current_app, jsonify

bp = Blueprint("jwks", __name__)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Every key that verifies now, newest first; none under an HMAC algorithm (never the secret)."""
    keys = current_app.extensions["auth"].tokens.keys
    response = jsonify(keys.current().jwks)
    # As long as each worker keeps its copy of the keys; PyJWKClient also fetches again on an unknown kid.
    response.headers["Cache-Control"] = f"public, max-age={keys.cache_seconds}"
    return response


def load_signing_keys() -> None:
    """Read the signing keys if this worker has none yet or its copy is due (a before-request hook)."""
    current_app.extensions["auth"].tokens.keys.current()
