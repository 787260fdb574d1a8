"""The executable schema: ``schema.graphql`` with the resolvers, scalars and directives bound to it."""

from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from . import accounts, admin, email, events, profile, tokens
from .directives import DIRECTIVES
from .scalars import SCALARS

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.graphql"


def build_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    """Load and bind the schema; a syntax error or an unknown directive fails here, at start-up."""
    type_defs = load_schema_from_path(str(path))
    return make_executable_schema(
        type_defs,
        *SCALARS,
        *accounts.BINDABLES,
        *tokens.BINDABLES,
        *profile.BINDABLES,
        *admin.BINDABLES,
        *events.BINDABLES,
        *email.BINDABLES,
        directives=DIRECTIVES,
        convert_names_case=True,
    )
