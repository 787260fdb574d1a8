"""JSON out with orjson: every answer and every log line is serialised on the hot path.

Reading stays with the standard library's parser, whose ``RecursionError`` on
absurd nesting the HTTP layer turns into a 400 naming the limit.
"""

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

# Keys sorted, as Flask's own provider does, so answers stay byte-for-byte stable.
OPTIONS = orjson.OPT_SORT_KEYS


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; anything orjson does not know is written as ``str()``."""
    return orjson.dumps(value, default=str, option=OPTIONS)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider (``jsonify``, ``app.json``) writing with orjson."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return self._app.response_class(
            dumps(self._prepare_response_obj(args, kwargs)) + b"\n", mimetype=self.mimetype
        )
