"""The console's stylesheet and script, served from memory under a digest of their content.

A URL changes whenever its file does, so a browser may keep each file for a
year. Only these files are served: no request can name another.
"""

import hashlib
from functools import cache
from pathlib import Path

from flask import Response, abort, url_for

from . import bp

FOLDER = Path(__file__).parent / "static"
CONTENT_TYPES = {"console.css": "text/css", "console.js": "text/javascript"}
CACHE_FOREVER = "public, max-age=31536000, immutable"


@cache
def console_assets() -> dict[str, tuple[str, bytes]]:
    """Each file's digest and content, read once per process."""
    assets = {}
    for name in CONTENT_TYPES:
        content = (FOLDER / name).read_bytes()
        assets[name] = (hashlib.sha256(content).hexdigest()[:16], content)
    return assets


def asset_url(name: str) -> str:
    """The URL of ``console.css`` or ``console.js``, with its digest in it."""
    digest, _ = console_assets()[name]
    return url_for("console.asset", digest=digest, name=name)


@bp.get("/static/<digest>/<name>")
def asset(digest: str, name: str) -> Response:
    """One file, cacheable for a year; another digest (an older release's) or name is a 404."""
    found = console_assets().get(name)
    if found is None or found[0] != digest:
        abort(404)
    response = Response(found[1], mimetype=CONTENT_TYPES[name])
    response.headers["Cache-Control"] = CACHE_FOREVER
    return response
