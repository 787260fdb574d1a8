"""Resolvers for the email flows: verification, password reset, email change."""

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from ..auth.email_flows import (
    confirm_email_change,
    request_email_change,
    request_password_reset,
    request_verification_mail,
    reset_password,
    verify_account,
)

mutation = MutationType()
OK = {"ok": True}


@mutation.field("sendVerificationEmail")
def resolve_send_verification_email(_: Any, info: GraphQLResolveInfo) -> dict[str, bool]:
    context = info.context
    request_verification_mail(context.auth, context.require_account())
    return OK


@mutation.field("verifyAccount")
def resolve_verify_account(_: Any, info: GraphQLResolveInfo, token: str) -> dict[str, bool]:
    context = info.context
    verify_account(token, ip=context.client_ip, user_agent=context.user_agent)
    return OK


@mutation.field("sendPasswordResetEmail")
def resolve_send_password_reset_email(_: Any, info: GraphQLResolveInfo, email: str) -> dict[str, bool]:
    context = info.context
    request_password_reset(context.auth, email, ip=context.client_ip, user_agent=context.user_agent)
    return OK


@mutation.field("passwordReset")
def resolve_password_reset(
    _: Any, info: GraphQLResolveInfo, token: str, new_password: str
) -> dict[str, bool]:
    context = info.context
    reset_password(context.auth, token, new_password, ip=context.client_ip, user_agent=context.user_agent)
    return OK


@mutation.field("requestEmailChange")
def resolve_request_email_change(
    _: Any, info: GraphQLResolveInfo, new_email: str, password: str
) -> dict[str, bool]:
    context = info.context
    request_email_change(
        context.auth,
        context.require_account(),
        new_email=new_email,
        password=password,
        ip=context.client_ip,
        user_agent=context.user_agent,
    )
    return OK


@mutation.field("confirmEmailChange")
def resolve_confirm_email_change(_: Any, info: GraphQLResolveInfo, token: str) -> dict[str, bool]:
    context = info.context
    confirm_email_change(token, ip=context.client_ip, user_agent=context.user_agent)
    return OK


BINDABLES = [mutation]
