"""The HTTP face of the service: ``/graphql`` (GET: explorer or query; POST: JSON or multipart)."""

import json
from functools import cached_property, lru_cache
from typing import IO, Any

from flask import Blueprint, Flask, Request, Response, current_app, g, jsonify, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_accept_header, parse_options_header
from werkzeug.sansio.utils import get_content_length
from werkzeug.wsgi import LimitedStream

from .auth.identity import identify
from .errors import GraphQLParseFailed
from .graphql.context import GraphQLContext
from .graphql.execution import MethodNotAllowed, Outcome, error_body, execute_operation
from .graphql.limits import NestedTooDeeply
from .graphql.multipart import read_multipart_operation
from .logs import log_request
from .refresh_cookie import RefreshCookie
from .serialization import dumps

# Browsers send multipart forms cross-site without a preflight; a request carrying one
# of these headers cannot come from a plain form (Apollo Server's CSRF prevention).
PREFLIGHT_HEADERS = ("Authorization", "Apollo-Require-Preflight", "X-Apollo-Operation-Name")
# The answer's media type (GraphQL over HTTP): the old one, or the current spec's when asked for.
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_RESPONSE_CONTENT_TYPE = f"{GRAPHQL_RESPONSE}; charset=utf-8"

bp = Blueprint("graphql", __name__)


class ServiceRequest(Request):
    """Flask's request, reading a body of known length straight from a server that ends it there.

    With ``MAX_CONTENT_LENGTH`` set, werkzeug wraps even such a body in a
    stream capped at the limit, which reads it in 64 KiB buffers and once
    more to find its end. When the server terminates the input itself
    (``wsgi.input_terminated``: gunicorn) and ``Content-Length`` is given
    and within the limit (413 otherwise, before anything is read), the
    server's stream ends exactly there: it is read as it is. A body without
    a length (chunked) is read through a ``CappedStream``: 413 past the limit.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        environ, limit = self.environ, self.max_content_length
        if "wsgi.input_terminated" not in environ or limit is None or self.shallow:
            return super().stream
        # request.content_length, read from the environ (not through request.headers)
        length = get_content_length(environ.get("CONTENT_LENGTH"), environ.get("HTTP_TRANSFER_ENCODING"))
        if length is None:
            return CappedStream(environ["wsgi.input"], limit)
        if length > limit:
            raise RequestEntityTooLarge()
        return environ["wsgi.input"]


class CappedStream(LimitedStream):
    """A body without a length (chunked), refused with 413 once it goes past ``cap`` bytes.

    werkzeug's own capped stream stops reading at the cap and hands over
    what it read: a body cut there, which would be answered as broken JSON.
    """

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        super().__init__(stream, cap + 1, is_max=True)
        self.cap = cap

    def readinto(self, buffer: Any) -> int | None:  # type: ignore[override]
        read = super().readinto(buffer)
        if self.tell() > self.cap:
            raise RequestEntityTooLarge()
        return read


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
    incoming = request._get_current_object()  # type: ignore[attr-defined]
    if incoming.path == "/graphql":  # the blueprint's one path, its errors (404, 405, 413) included
        headers["Cache-Control"] = "no-store"
        if response.mimetype == JSON and _answer_media_type(incoming) == GRAPHQL_RESPONSE:
            # Every JSON answer at /graphql, errors included, in the type the client asked for.
            headers["Content-Type"] = GRAPHQL_RESPONSE_CONTENT_TYPE
    return log_request(response)


@lru_cache(maxsize=256)
def media_type_for(accept: str) -> str | None:
    """The media type to answer a request whose ``Accept`` header is ``accept``; ``None`` if neither fits.

    ``application/graphql-response+json`` only when the client names it, at
    a quality no lower than ``application/json``'s: Apollo Client 4 and
    graphql-http's client do; the old clients send no ``Accept``, ``*/*``
    or ``application/json`` and keep getting ``application/json``. Clients
    send the same header again and again, so each is worked out once.
    """
    if not accept.strip():
        return JSON
    accepted = parse_accept_header(accept, MIMEAccept)
    json_quality = _quality(accepted, JSON)
    named = _quality(accepted, GRAPHQL_RESPONSE, by_name=True)
    if named and named >= json_quality:
        return GRAPHQL_RESPONSE
    if json_quality:
        return JSON
    return GRAPHQL_RESPONSE if _quality(accepted, GRAPHQL_RESPONSE) else None


def _quality(accepted: MIMEAccept, media_type: str, *, by_name: bool = False) -> float:
    """The quality ``accepted`` gives ``media_type``: from its most specific entry (the type itself,
    then ``application/*``, then ``*/*``; only the type itself when ``by_name``), parameters aside."""
    ranges = (media_type,) if by_name else (media_type, f"{media_type.partition('/')[0]}/*", "*/*")
    found, quality = len(ranges), 0.0
    for value, value_quality in accepted:
        bare = value.partition(";")[0].rstrip().lower()
        if bare in ranges and ranges.index(bare) < found:
            found, quality = ranges.index(bare), value_quality
    return quality


@lru_cache(maxsize=64)
def body_media_type(content_type: str) -> str:
    """The media type of a ``Content-Type`` header, lower case, parameters aside (as
    ``request.mimetype``); worked out once per distinct header."""
    return parse_options_header(content_type)[0].lower()


def _answer_media_type(incoming: Request) -> str | None:
    # Headers are read from the WSGI environ, here and on the rest of the request path: the
    # same values, without the case-folding look-up of ``request.headers``.
    return media_type_for(incoming.environ.get("HTTP_ACCEPT", ""))


def _not_acceptable(incoming: Request) -> Response | None:
    """A 406 when the ``Accept`` header allows neither JSON type; ``None`` when an answer can be sent."""
    if _answer_media_type(incoming) is not None:
        return None
    return _json_error(
        406,
        GraphQLParseFailed(
            f"The Accept header allows neither {GRAPHQL_RESPONSE} nor {JSON}: "
            "a GraphQL answer can only be sent as one of them."
        ),
        code="NOT_ACCEPTABLE",
    )


def build_context() -> GraphQLContext:
    """The request as resolvers see it; the only place that reads the request for them.

    Absolute URLs start from ``PUBLIC_URL`` when it is set: ``Host`` is the
    client's to choose, so it is used only when the operator named no address.
    """
    app, incoming = current_app._get_current_object(), request._get_current_object()  # type: ignore[attr-defined]
    auth = app.extensions["auth"]
    # Who is calling, from the Authorization header only: cookies and sessions are never read.
    environ = incoming.environ
    g.identity = identity = identify(auth.tokens, environ.get("HTTP_AUTHORIZATION"))
    return GraphQLContext(
        auth=auth,
        uploads=app.extensions["uploads"],
        identity=identity,
        client_ip=incoming.remote_addr or "",
        user_agent=environ.get("HTTP_USER_AGENT", "")[:512],
        accept_language=lambda: environ.get("HTTP_ACCEPT_LANGUAGE", "")[:512],
        public_url=app.config["PUBLIC_URL"],
        request_host_url=lambda: incoming.host_url,
        # Cookie mode: a holder that reads the refresh cookie only if a refresh mutation asks.
        refresh_cookie=RefreshCookie(incoming) if app.config["JWT_REFRESH_COOKIE"] else None,
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
    if (refusal := _not_acceptable(request._get_current_object())) is not None:  # type: ignore[attr-defined]
        return refusal
    data: dict[str, Any] = {
        "query": request.args.get("query"),
        "operationName": request.args.get("operationName") or None,
    }
    for name in ("variables", "extensions"):
        if request.args.get(name):
            try:
                data[name] = json.loads(request.args[name])
            except ValueError:
                return _json_error(400, GraphQLParseFailed(f"'{name}' is not valid JSON."))
            except RecursionError:
                return _json_error(400, NestedTooDeeply())
    context = build_context()
    try:
        outcome = execute_operation(current_app.extensions["graphql"], data, context, read_only=True)
    except MethodNotAllowed:
        response = _json_error(405, GraphQLParseFailed("Mutations must be sent with POST."))
        response.headers["Allow"] = "POST"
        return response
    return _answer(outcome, context)


@bp.post("/graphql")
def graphql_post() -> Response:
    """One operation in a JSON body, or in a multipart request carrying files."""
    incoming = request._get_current_object()  # type: ignore[attr-defined]
    if (refusal := _not_acceptable(incoming)) is not None:
        return refusal  # before the body is read: nothing runs that could not be answered
    media_type = body_media_type(incoming.environ.get("CONTENT_TYPE", ""))
    if media_type == "multipart/form-data":
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
    elif media_type == JSON or (media_type.startswith("application/") and media_type.endswith("+json")):
        # As request.get_json would (the same media types, the same parser), without its layers.
        try:
            data = json.loads(incoming.get_data())
        except ValueError:
            data = None
        except RecursionError:
            return _json_error(400, NestedTooDeeply())
        if data is None:
            return _json_error(400, GraphQLParseFailed("The request body is not valid JSON."))
    else:
        return _json_error(
            415, GraphQLParseFailed("Send the operation as application/json or multipart/form-data.")
        )
    context = build_context()
    return _answer(execute_operation(current_app.extensions["graphql"], data, context), context)


def _answer(outcome: Outcome, context: GraphQLContext) -> Response:
    """The JSON answer, with the refresh cookies the resolvers set or expired (cookie mode);
    the operation is noted for the request's log line."""
    g.graphql_operation = {"name": outcome.operation_name, "type": outcome.operation_type}
    response = Response(dumps(outcome.body) + b"\n", outcome.status, mimetype=JSON)
    if context.refresh_cookie is not None:
        context.refresh_cookie.apply(response)
    return response


def _json_error(status: int, error: GraphQLParseFailed, *, code: str | None = None) -> Response:
    body = error_body(error)
    if code is not None:
        body["errors"][0]["extensions"]["code"] = code
    response = jsonify(body)
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
