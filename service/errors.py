"""Errors a client can cause. Each class carries the stable ``extensions.code`` it is reported with.

They know nothing of GraphQL: the GraphQL layer turns them into errors with
``extensions`` (see ``service.graphql.errors``), the HTTP layer into JSON bodies.
"""

from typing import Any


class ClientError(Exception):
    """Base class: a message safe to show the client, a code, and extra extensions."""

    code = "BAD_REQUEST"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, **extensions: Any) -> None:
        self.message = message or self.default_message
        self.extensions = extensions
        super().__init__(self.message)

    def as_extensions(self) -> dict[str, Any]:
        """The ``extensions`` object of the GraphQL error: the code first, then the details."""
        return {"code": self.code, **self.extensions}


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"
    default_message = "You must be signed in to do this."

    def __init__(self, reason: str = "missing", message: str | None = None) -> None:
        super().__init__(message or AUTH_FAILURE_MESSAGES[reason], reason=reason)


# Why the ``Authorization`` header did not identify anyone (``extensions.reason``).
AUTH_FAILURE_MESSAGES = {
    "missing": "You must be signed in to do this: send an access token in the Authorization header.",
    "expired": "Your access token has expired; refresh it or sign in again.",
    "invalid": "Your access token is not valid; sign in again.",
    "revoked": "Your access token has been revoked; sign in again.",
}


class Forbidden(ClientError):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class BadUserInput(ClientError):
    """Invalid arguments. ``fields`` maps each input field name to its messages."""

    code = "BAD_USER_INPUT"
    default_message = "The input is not valid."

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        if message is None:
            message = "Invalid input: " + "; ".join(
                f"{name}: {' '.join(problems)}" for name, problems in fields.items()
            )
        super().__init__(message, fields=fields)
        self.fields = fields


class InvalidCredentials(ClientError):
    code = "INVALID_CREDENTIALS"
    default_message = "The username or password is incorrect."


class EmailNotVerified(ClientError):
    """The password was right, but ``ACCOUNT_REQUIRE_VERIFIED_EMAIL`` wants a verified address first."""

    code = "EMAIL_NOT_VERIFIED"
    default_message = (
        "Verify your email address before signing in: we have mailed it a new verification link"
        " (unless we sent several recently; then use the latest)."
    )


class TokenInvalid(ClientError):
    code = "TOKEN_INVALID"
    default_message = "The token is not valid."


class TokenExpired(ClientError):
    code = "TOKEN_EXPIRED"
    default_message = "The token has expired."


class TokenRevoked(ClientError):
    code = "TOKEN_REVOKED"
    default_message = "The token has been revoked."


class GraphQLParseFailed(ClientError):
    code = "GRAPHQL_PARSE_FAILED"
    default_message = "The request could not be read as a GraphQL operation."


class GraphQLValidationFailed(ClientError):
    code = "GRAPHQL_VALIDATION_FAILED"
    default_message = "The GraphQL operation is not valid against the schema."


class RateLimited(ClientError):
    """Too many attempts; ``retryAfter`` says how many seconds until the next one is allowed."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message or f"Too many attempts; try again in {retry_after} seconds.", retryAfter=retry_after
        )
        self.retry_after = retry_after
