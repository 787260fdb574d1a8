"""Custom scalars: ``GenericScalar`` (any JSON) and ``DateTime`` (ISO 8601)."""

from datetime import datetime
from typing import Any

from ariadne import ScalarType

generic_scalar = ScalarType("GenericScalar")
datetime_scalar = ScalarType("DateTime")


@generic_scalar.serializer
def serialize_generic(value: Any) -> Any:
    return value


@datetime_scalar.serializer
def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


@datetime_scalar.value_parser
def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string.")
    return datetime.fromisoformat(value)


SCALARS = [generic_scalar, datetime_scalar]
