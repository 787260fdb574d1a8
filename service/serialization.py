"""JSON out with orjson: every answer and every log line is serialised on the hot path.

Reading stays with the standard library's parser, whose ``RecursionError`` on
absurd nesting the HTTP layer turns into a 400 naming the limit.
"""

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, keys in their order; anything orjson does not know is ``str()``."""
    return orjson.dumps(value, default=str)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider (``jsonify``, ``app.json``) writing with orjson.

    Keys keep their order, unlike Flask's own provider, which sorts them: an
    answer's fields come back in the order the query selected them, and an
    error's as the GraphQL specification lists them (``message``,
    ``locations``, ``path``, ``extensions``).
    """

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = dumps(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)
