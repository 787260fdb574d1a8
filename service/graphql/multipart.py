"""The GraphQL multipart request spec: ``operations``, ``map``, then the files."""

import json
from typing import Any

from ariadne import combine_multipart_data
from ariadne.exceptions import HttpBadRequestError
from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from ..errors import GraphQLParseFailed
from .limits import NestedTooDeeply, check_json_nesting

SPEC = "the GraphQL multipart request spec"


def read_multipart_operation(
    form: ImmutableMultiDict[str, str], files: ImmutableMultiDict[str, FileStorage]
) -> dict[str, Any]:
    """The operation with each mapped file put in place of its ``null`` variable.

    Anything the spec does not allow is refused with ``GraphQLParseFailed``:
    bad JSON (or JSON nested too deeply), a map naming a missing file or a path
    that is not a ``null`` variable, two files for one path, and files that the
    map does not use.
    """
    operations = _json_field(form, "operations")
    files_map = _json_field(form, "map")
    check_json_nesting(operations)
    check_json_nesting(files_map)
    if not isinstance(operations, dict):
        raise GraphQLParseFailed(f"'operations' must be one operation (a JSON object), as {SPEC} says.")
    if not isinstance(files_map, dict):
        raise GraphQLParseFailed(f"'map' must be a JSON object of file names to variable paths ({SPEC}).")
    unused = set(files) - set(files_map)
    if unused:
        raise GraphQLParseFailed(f"The request has files the map does not use: {', '.join(sorted(unused))}.")
    mapped: set[str] = set()
    for name, paths in files_map.items():
        if not isinstance(paths, list) or not paths:
            raise GraphQLParseFailed(f"'map' entry {name!r} must be a list of variable paths.")
        for path in paths:
            if not isinstance(path, str) or not _is_null_variable(operations, path):
                raise GraphQLParseFailed(
                    f"'map' entry {name!r} names {path!r}, which is not a null variable of the operation."
                )
            if path in mapped:
                raise GraphQLParseFailed(f"'map' puts more than one file in {path!r}; a variable takes one.")
            mapped.add(path)
    try:
        combined = combine_multipart_data(operations, files_map, files.to_dict())
    except HttpBadRequestError as error:
        raise GraphQLParseFailed(error.message or f"The multipart request does not follow {SPEC}.") from None
    return combined  # type: ignore[return-value]


def _json_field(form: ImmutableMultiDict[str, str], name: str) -> Any:
    if name not in form:
        raise GraphQLParseFailed(f"The multipart request has no {name!r} field ({SPEC}).")
    try:
        return json.loads(form[name])
    except ValueError:
        raise GraphQLParseFailed(f"The {name!r} field is not valid JSON.") from None
    except RecursionError:
        raise NestedTooDeeply() from None


def _is_null_variable(operations: dict[str, Any], path: str) -> bool:
    """True when ``path`` (``variables.input.profilePicture``) leads to a ``null`` in ``operations``."""
    head, _, rest = path.partition(".")
    if head != "variables" or not rest:
        return False
    node: Any = operations.get("variables")
    *parents, leaf = rest.split(".")
    for key in parents:
        node = _child(node, key)
        if node is None:
            return False
    if isinstance(node, dict):
        return leaf in node and node[leaf] is None
    if isinstance(node, list) and leaf.isdigit():
        return int(leaf) < len(node) and node[int(leaf)] is None
    return False


def _child(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return None
