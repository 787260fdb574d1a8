"""The one object resolvers read the request through."""

from collections.abc import Callable
from dataclasses import dataclass, field

from ..auth import Auth
from ..auth.identity import Caller, Identity
from ..errors import Unauthenticated
from ..extensions import db
from ..models import User
from ..refresh_cookie import RefreshCookie
from ..uploads import UploadSettings


@dataclass(frozen=True)
class GraphQLContext:
    """``info.context``: who is calling, from where, and the app's account rules."""

    auth: Auth
    uploads: UploadSettings
    identity: Identity
    client_ip: str = ""
    user_agent: str = ""
    # The Accept-Language header, for the language of a new account's mail; read only if asked.
    accept_language: Callable[[], str] = field(default=lambda: "", repr=False)
    # PUBLIC_URL, when the operator set it.
    public_url: str | None = None
    # The address the request came to, ending in "/"; worked out only if a resolver asks.
    request_host_url: Callable[[], str] = field(default=lambda: "/", repr=False)
    # The refresh-token cookie, in cookie mode (JWT_REFRESH_COOKIE) only: ``None`` otherwise.
    refresh_cookie: RefreshCookie | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """The service's own address, ending in "/", for absolute URLs such as profilePictureUrl:
        ``PUBLIC_URL`` when it is set, otherwise the address the request came to."""
        return f"{self.public_url}/" if self.public_url else self.request_host_url()

    def require_user(self) -> Caller:
        """The signed-in user, or ``UNAUTHENTICATED`` with the reason the token was refused.

        A snapshot of the user's row, read with the token check: enough for every read.
        """
        if self.identity.user is None:
            raise Unauthenticated(self.identity.failure or "missing")
        return self.identity.user

    def require_account(self) -> User:
        """The signed-in user's ``User``, for resolvers that change the account (one more lookup)."""
        caller = self.require_user()
        user = db.session.get(User, caller.id)
        if user is None:  # deleted since the token check, in another request
            raise Unauthenticated("revoked")
        return user
