"""Flask extensions, created unbound and initialised by ``create_app``."""

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

# Constraint names are spelled out so that migrations can drop and alter them
# the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=sa.MetaData(naming_convention=NAMING_CONVENTION))


def render_column_type(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write a custom column type into migrations as the plain type it stores (``sa.DateTime()``)."""
    if type_ == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{type(obj.impl).__name__}()"
    return False


migrate = Migrate(render_as_batch=True, render_item=render_column_type, compare_type=True)
