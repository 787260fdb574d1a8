"""The HTTP face of the service: ``/graphql`` (GET: explorer or query; POST: JSON or multipart)."""

import json
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, g, jsonify, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException

from .auth.identity import identify
from .errors import GraphQLParseFailed
from .graphql.context import GraphQLContext
from .graphql.execution import MethodNotAllowed, Outcome, error_body, execute_operation
from .graphql.limits import NestedTooDeeply
from .graphql.multipart import read_multipart_operation
from .logs import log_request

# Browsers send multipart forms cross-site without a preflight; a request carrying one
# of these headers cannot come from a plain form (Apollo Server's CSRF prevention).
PREFLIGHT_HEADERS = ("Authorization", "Apollo-Require-Preflight", "X-Apollo-Operation-Name")

bp = Blueprint("graphql", __name__)


class NoCookieSessions(SessionInterface):
    """Flask's session is never opened: no cookie can carry a login, and no request pays for one."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask then hands out a null session that refuses writes

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def finish_response(response: Response) -> Response:
    """What every answer gets (the app's one after-request hook): security headers, then the log line.

    GraphQL answers (and the explorer) hold tokens and personal data: no cache may keep them.
    """
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if request.blueprint == bp.name:
        headers["Cache-Control"] = "no-store"
    return log_request(response)


def build_context() -> GraphQLContext:
    """The request as resolvers see it; the only place that reads the request for them.

    Absolute URLs start from ``PUBLIC_URL`` when it is set: ``Host`` is the
    client's to choose, so it is used only when the operator named no address.
    """
    app, incoming = current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined]
    auth = app.extensions["auth"]
    # Who is calling, from the Authorization header only: cookies and sessions are never read.
    g.identity = identity = identify(auth.tokens, incoming.headers.get("Authorization"))
    return GraphQLContext(
        auth=auth,
        uploads=app.extensions["uploads"],
        identity=identity,
        client_ip=incoming.remote_addr or "",
        user_agent=incoming.headers.get("User-Agent", "")[:512],
        public_url=app.config["PUBLIC_URL"],
        request_host_url=lambda: incoming.host_url,
    )


@bp.get("/graphql")
def graphql_get() -> Response:
    """The explorer for a browser; a query (never a mutation) from the URL's parameters."""
    if "query" not in request.args:
        explorer_html = current_app.extensions["graphql_explorer"]
        if explorer_html is None:
            return _json_error(400, GraphQLParseFailed("Send a GraphQL operation in the 'query' parameter."))
        response = Response(explorer_html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = current_app.extensions["graphql_explorer_csp"]
        return response
    data: dict[str, Any] = {
        "query": request.args.get("query"),
        "operationName": request.args.get("operationName") or None,
    }
    if request.args.get("variables"):
        try:
            data["variables"] = json.loads(request.args["variables"])
        except ValueError:
            return _json_error(400, GraphQLParseFailed("'variables' is not valid JSON."))
        except RecursionError:
            return _json_error(400, NestedTooDeeply())
    try:
        outcome = execute_operation(current_app.extensions["graphql"], data, build_context(), read_only=True)
    except MethodNotAllowed:
        response = _json_error(405, GraphQLParseFailed("Mutations must be sent with POST."))
        response.headers["Allow"] = "POST"
        return response
    return _answer(outcome)


@bp.post("/graphql")
def graphql_post() -> Response:
    """One operation in a JSON body, or in a multipart request carrying files."""
    if request.mimetype == "multipart/form-data":
        if not any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
            # Refused before the body is read, so nothing is parsed, stored or run.
            return _json_error(
                400,
                GraphQLParseFailed(
                    "A multipart request must carry an Authorization header, or a non-empty "
                    "Apollo-Require-Preflight or X-Apollo-Operation-Name header (CSRF protection)."
                ),
            )
        try:
            data = read_multipart_operation(request.form, request.files)
        except GraphQLParseFailed as error:
            return _json_error(400, error)
    elif request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:
            return _json_error(400, NestedTooDeeply())
        if data is None:
            return _json_error(400, GraphQLParseFailed("The request body is not valid JSON."))
    else:
        return _json_error(
            415, GraphQLParseFailed("Send the operation as application/json or multipart/form-data.")
        )
    return _answer(execute_operation(current_app.extensions["graphql"], data, build_context()))


def _answer(outcome: Outcome) -> Response:
    """The JSON answer; the operation is noted for the request's log line."""
    g.graphql_operation = {"name": outcome.operation_name, "type": outcome.operation_type}
    response = jsonify(outcome.body)
    response.status_code = outcome.status
    return response


def _json_error(status: int, error: GraphQLParseFailed) -> Response:
    response = jsonify(error_body(error))
    response.status_code = status
    return response


def json_http_error(error: HTTPException) -> Response:
    """Every HTTP error (404, 405, 413 ...) as JSON with ``errors``, like the GraphQL answers.

    At ``/graphql`` the request could not be read as an operation, whatever
    the status; elsewhere the code is the status's name (``NOT_FOUND``).
    """
    at_graphql = request.path == "/graphql"
    code = GraphQLParseFailed.code if at_graphql else error.name.upper().replace(" ", "_")
    response = jsonify({"errors": [{"message": error.description, "extensions": {"code": code}}]})
    response.status_code = error.code or 500
    return response


def json_internal_error(error: Exception) -> Response:
    """An unexpected failure: logged with its traceback, answered with a generic message."""
    current_app.logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=error)
    response = jsonify(
        {"errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    )
    response.status_code = 500
    return response
