"""Resolvers for the profile: ``updateUser`` and the picture fields of ``User``."""

from typing import Any

from ariadne import MutationType, ObjectType, upload_scalar
from graphql import GraphQLResolveInfo
from werkzeug.datastructures import FileStorage

from ..auth.profile import update_profile
from ..errors import BadUserInput
from ..models import User

mutation = MutationType()
user_type = ObjectType("User")


@mutation.field("updateUser")
def resolve_update_user(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    context = info.context
    picture = input.get("profile_picture")
    if picture is not None and not isinstance(picture, FileStorage):
        raise BadUserInput({"profilePicture": ["Send the picture as a file in a multipart request."]})
    user = update_profile(
        context.require_account(),
        input,
        picture=picture.stream if picture is not None else None,
        remove_picture=bool(input.get("remove_profile_picture")),
        uploads=context.uploads,
        mail=context.auth.email,
        ip=context.client_ip,
        user_agent=context.user_agent,
    )
    return {"ok": True, "user": user}


@user_type.field("profilePictureUrl")
def resolve_profile_picture_url(user: User, info: GraphQLResolveInfo) -> str | None:
    if not user.profile_picture:
        return None
    return f"{info.context.base_url}uploads/{user.profile_picture}"


BINDABLES = [mutation, user_type, upload_scalar]
