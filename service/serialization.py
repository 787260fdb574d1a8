"""JSON out with orjson: every answer and every log line is serialised on the hot path.

Reading stays with the standard library's parser, whose ``RecursionError`` on
absurd nesting the HTTP layer turns into a 400 naming the limit.
"""

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON; anything orjson does not know is written as ``str()``."""
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS if sort_keys else 0)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider (``jsonify``, ``app.json``) writing with orjson.

    Keys are sorted, as Flask's own provider sorts them, so answers keep their shape.
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj, sort_keys=True).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = dumps(self._prepare_response_obj(args, kwargs), sort_keys=True)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)
