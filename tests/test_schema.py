"""The contract: schema.graphql, the resolvers bound to it, and the models against the migrations."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ariadne import is_default_resolver
from conftest import LEGACY, LEGACY_OPERATIONS_FILE
from graphql import GraphQLObjectType, parse, validate

from service.extensions import db
from service.graphql.schema import build_schema

SCHEMA = build_schema()
SHARED_LEGACY_FILE = Path(__file__).resolve().parents[2] / "shared" / "legacy-operations.graphql"


def root_fields():
    for type_name in ("Query", "Mutation"):
        for field_name, field in SCHEMA.type_map[type_name].fields.items():
            yield f"{type_name}.{field_name}", field


@pytest.mark.parametrize(("name", "field"), list(root_fields()), ids=lambda value: str(value))
def test_every_query_and_mutation_field_has_a_resolver(name, field):
    assert field.resolve is not None, f"{name} has no resolver bound"
    assert not is_default_resolver(field.resolve), f"{name} has only the default resolver"


def test_every_type_field_and_argument_is_described():
    missing = []
    for type_name, type_ in SCHEMA.type_map.items():
        if type_name.startswith("__") or type_name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not type_.description:
            missing.append(type_name)
        for field_name, field in (getattr(type_, "fields", None) or {}).items():
            if not field.description:
                missing.append(f"{type_name}.{field_name}")
            for arg_name, arg in (getattr(field, "args", None) or {}).items():
                if not arg.description:
                    missing.append(f"{type_name}.{field_name}({arg_name})")
    assert missing == []


def test_auth_rules_are_visible_as_directives_in_the_sdl():
    query_type = SCHEMA.type_map["Query"]
    assert isinstance(query_type, GraphQLObjectType)
    for field_name in ("whoami", "user"):
        directives = [node.name.value for node in query_type.fields[field_name].ast_node.directives]
        assert "authenticated" in directives


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_schema_accepts_the_old_clients_operation_unchanged(name):
    assert validate(SCHEMA, parse(LEGACY[name])) == []


def test_legacy_operations_fixture_matches_the_shared_file():
    if not SHARED_LEGACY_FILE.exists():
        pytest.skip("the shared folder is not beside this checkout")
    assert LEGACY_OPERATIONS_FILE.read_text() == SHARED_LEGACY_FILE.read_text()


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
