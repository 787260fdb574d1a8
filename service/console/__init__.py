"""The staff console: server-rendered pages under ``/admin`` for staff and superusers.

Jinja templates and one stylesheet and one script, all in this package; no
inline script or style, nothing from another host. Views are thin: they call
``service.auth`` and render. The console's own cookie is its only login; it
is never read outside ``/admin``, so it authenticates nothing at ``/graphql``.
"""

from flask import Blueprint

PREFIX = "/admin"

bp = Blueprint("console", __name__, url_prefix=PREFIX, template_folder="templates")

# Each module adds its routes and hooks to ``bp``.
from . import access, actions, assets, pages  # noqa: E402, F401
