"""Operators' commands: ``flask --app wsgi users ...``, ``tokens purge``, ``keys ...``, ``uploads prune``,
``mail ...``."""

import os
import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from .auth.admin import (
    create_superuser,
    find_user,
    mark_email_verified,
    purge_sessions,
    set_active,
    set_password,
    user_filter,
)
from .auth.django_import import OLD_REFRESH_LIFETIME, ImportConflict, import_django
from .auth.events import purge_events
from .auth.keyring import KeyRing, SigningKeyError
from .auth.throttling import unlock_account
from .errors import BadUserInput
from .extensions import db
from .mail import send_due
from .models import MailMessage, User
from .uploads import prune_unreferenced_pictures

PASSWORD_VARIABLE = "SUPERUSER_PASSWORD"

users = AppGroup("users", help="Manage accounts.")
tokens = AppGroup("tokens", help="Manage sessions and refresh tokens.")
uploads = AppGroup("uploads", help="Manage uploaded files.")
keys = AppGroup("keys", help="Manage the key pairs that sign access tokens (RS256, ES256, EdDSA).")
mail = AppGroup("mail", help="Deliver and inspect the outgoing mail (the outbox).")


def register_commands(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(tokens)
    app.cli.add_command(uploads)
    app.cli.add_command(keys)
    app.cli.add_command(mail)


def _fail_on_bad_input(error: BadUserInput) -> None:
    for field, problems in error.fields.items():
        for problem in problems:
            click.echo(f"Error: {field}: {problem}", err=True)
    sys.exit(1)


def _read_password(from_stdin: bool) -> str:
    """The new password: a line on stdin, the environment variable, or a hidden prompt typed twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    if not sys.stdin.isatty():
        raise click.UsageError(f"No password: use --password-stdin or set {PASSWORD_VARIABLE}.")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _the_user(login: str) -> User:
    user = find_user(login)
    if user is None:
        raise click.ClickException(f"No user {login!r}.")
    return user


@users.command("create-superuser")
@click.option("--username", help="Asked for when missing and run interactively.")
@click.option("--email", help="Asked for when missing and run interactively.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option(
    "--allow-weak-password",
    is_flag=True,
    help="Skip the password policy (prints a warning; not for production).",
)
def create_superuser_command(
    username: str | None, email: str | None, password_stdin: bool, allow_weak_password: bool
) -> None:
    """Create a staff superuser, like Django's createsuperuser.

    Non-interactive: --username and --email, and the password from --password-stdin
    or the SUPERUSER_PASSWORD environment variable.
    """
    interactive = sys.stdin.isatty() and not password_stdin
    if not (username and email) and not interactive:
        raise click.UsageError("--username and --email are required when not run interactively.")
    username = username or click.prompt("Username")
    email = email or click.prompt("Email address")
    password = _read_password(password_stdin)
    if allow_weak_password:
        click.echo(
            "Warning: the password policy was skipped; do not use this account in production.", err=True
        )
    try:
        user = create_superuser(
            current_app.extensions["auth"],
            username=username,
            email=email,
            password=password,
            allow_weak=allow_weak_password,
        )
    except BadUserInput as error:
        _fail_on_bad_input(error)
    click.echo(f"Superuser {user.username!r} created (id {user.id}).")


@users.command("list")
@click.option("--search", help="Only users whose username, email or name contains this (any case).")
def list_command(search: str | None) -> None:
    """Print every account, oldest first."""
    query = sa.select(User).where(user_filter(search)).order_by(User.id)
    click.echo(f"{'id':>6}  {'username':<24} {'email':<32} staff super active joined")
    for user in db.session.scalars(query):
        click.echo(
            f"{user.id:>6}  {user.username:<24} {user.email:<32} {_yes(user.is_staff):<5} "
            f"{_yes(user.is_superuser):<5} {_yes(user.is_active):<6} {user.date_joined:%Y-%m-%d}"
        )


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--allow-weak-password", is_flag=True, help="Skip the password policy (prints a warning).")
def set_password_command(username: str, password_stdin: bool, allow_weak_password: bool) -> None:
    """Set a user's password and end all their sessions."""
    user = _the_user(username)
    password = _read_password(password_stdin)
    if allow_weak_password:
        click.echo("Warning: the password policy was skipped.", err=True)
    try:
        set_password(current_app.extensions["auth"], user, password, allow_weak=allow_weak_password)
    except BadUserInput as error:
        _fail_on_bad_input(error)
    click.echo(f"Password of {user.username!r} changed; their sessions have been ended.")


@users.command("deactivate")
@click.argument("username")
def deactivate_command(username: str) -> None:
    """Stop a user from logging in, and end their sessions at once."""
    user = set_active(_the_user(username), False)
    click.echo(f"{user.username!r} deactivated; their sessions have been ended.")


@users.command("activate")
@click.argument("username")
def activate_command(username: str) -> None:
    """Let a deactivated user log in again."""
    user = set_active(_the_user(username), True)
    click.echo(f"{user.username!r} activated.")


@users.command("verify-email")
@click.argument("username")
def verify_email_command(username: str) -> None:
    """Mark a user's email address verified, as if they had used the link (an operator vouches for it)."""
    user = _the_user(username)
    if mark_email_verified(user):
        click.echo(f"{user.username!r}: {user.email} is now verified.")
    else:
        click.echo(f"{user.username!r}: {user.email} was already verified.")


@users.command("unlock")
@click.argument("username")
def unlock_command(username: str) -> None:
    """Lift the login limits on a user's account, from every address, at once."""
    user = _the_user(username)
    forgotten = unlock_account(user.username_key)
    click.echo(f"{user.username!r} unlocked: {forgotten} counted login attempts forgotten.")


@users.command("import-django")
@click.option("--database-url", required=True, help="The old service's database (SQLite or PostgreSQL).")
@click.option(
    "--media-root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The old service's MEDIA_ROOT, where its profile pictures are.",
)
@click.option("--user-table", help="The old user table (default: accounts_user, else auth_user).")
@click.option(
    "--refresh-token-lifetime",
    type=click.IntRange(min=1),
    default=OLD_REFRESH_LIFETIME,
    show_default=True,
    help="The old JWT_REFRESH_EXPIRATION_DELTA in seconds: older refresh tokens are not brought over.",
)
@click.option("--dry-run", is_flag=True, help="Check and report everything, write nothing.")
def import_django_command(
    database_url: str, media_root: Path, user_table: str | None, refresh_token_lifetime: int, dry_run: bool
) -> None:
    """Bring the old Django service's accounts, passwords, pictures and live sessions over.

    Ids are kept; running it again changes nothing but what changed in the old service since.
    """
    try:
        report = import_django(
            database_url=database_url,
            media_root=media_root,
            uploads=current_app.extensions["uploads"],
            picture_key=current_app.extensions["auth"].tokens.key,
            user_table=user_table,
            refresh_lifetime=refresh_token_lifetime,
            dry_run=dry_run,
        )
    except ImportConflict as conflict:
        for problem in conflict.problems:
            click.echo(f"Conflict: {problem}", err=True)
        raise click.ClickException("Nothing was imported: resolve the conflicts above first.") from None
    except (LookupError, OSError, sa.exc.SQLAlchemyError) as error:
        raise click.ClickException(f"Cannot read the old service: {error}") from None
    for line in report.lines:
        click.echo(line)
    counts = report.counts
    click.echo(
        f"{'Dry run, nothing written. ' if dry_run else ''}Users: {counts['imported']} imported, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged. "
        f"Pictures: {counts['pictures imported']} imported, {counts['pictures skipped']} skipped."
    )
    sessions = [f"{counts['sessions imported']} imported", f"{counts['sessions already here']} already here"]
    sessions += [
        f"{count} {kind.removeprefix('sessions ')}"
        for kind, count in sorted(counts.items())
        if kind.startswith("sessions skipped")
    ]
    click.echo(f"Sessions: {', '.join(sessions)}.")


@tokens.command("purge")
def purge_command() -> None:
    """Delete ended sessions with their refresh tokens, rate-limit events past every window,
    known client networks unused for 30 days, used or expired mailed tokens, and security events
    older than SECURITY_EVENT_RETENTION_DAYS."""
    config = current_app.config
    removed = purge_sessions(
        refresh_lifetime=config["JWT_REFRESH_TOKEN_LIFETIME"],
        session_max_lifetime=config["SESSION_MAX_LIFETIME"],
        longest_window=max(
            config["LOGIN_LOCKOUT_SECONDS"],
            config["LOGIN_ACCOUNT_WINDOW"],
            config["LOGIN_IP_WINDOW"],
            config["REGISTRATION_WINDOW"],
            config["EMAIL_REQUESTS_WINDOW"],
        ),
        reuse_interval=config["JWT_REFRESH_REUSE_INTERVAL"],
    )
    click.echo(
        f"Removed {removed['sessions']} ended sessions and {removed['rate_events']} old rate-limit events."
    )
    click.echo(f"Removed {removed['known_clients']} known client networks unused for 30 days.")
    click.echo(f"Removed {removed['email_tokens']} used or expired email tokens.")
    retention_days = config["SECURITY_EVENT_RETENTION_DAYS"]
    events = purge_events(retention_days=retention_days)
    click.echo(f"Removed {events} security events older than {retention_days} days.")


def _key_ring() -> KeyRing:
    return current_app.extensions["auth"].tokens.keys


@keys.command("list")
def keys_list_command() -> None:
    """Print every signing key, oldest first: signing, verifying, retired or unused."""
    ring = _key_ring()
    if ring.asymmetric:
        ring.current()  # the first key, if none was made yet
    else:
        click.echo(f"{ring.algorithm} signs with SECRET_KEY: no key pairs are used.", err=True)
    click.echo(f"{'kid':<44} {'algorithm':<9} {'created':<20} {'state':<9} since")
    for row in ring.rows():
        since = row.retired_at if row.state == "retired" else row.signs_from
        click.echo(
            f"{row.kid:<44} {row.algorithm:<9} {row.created_at:%Y-%m-%d %H:%M:%S} "
            f"{row.state:<9} {since:%Y-%m-%d %H:%M:%S}"
        )


@keys.command("rotate")
def keys_rotate_command() -> None:
    """Make a new key pair that signs from now on (each worker within JWT_KEYS_CACHE_SECONDS).

    The other keys keep verifying until retired.
    """
    ring = _key_ring()
    try:
        if ring.asymmetric:
            ring.current()
        kid, signs_from = ring.rotate()
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"New key {kid} is published and signs from {signs_from:%Y-%m-%d %H:%M:%S} UTC.")


# A kid is base64url, so it may begin with "-": take it as the argument, not as an unknown option.
@keys.command("retire", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def keys_retire_command(kid: str) -> None:
    """Refuse the tokens signed with KID (within JWT_KEYS_CACHE_SECONDS) and drop it from the JWKS."""
    try:
        _key_ring().retire(kid)
    except SigningKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Key {kid} retired: its tokens are refused once every worker has reloaded its keys.")


@uploads.command("prune")
@click.option(
    "--older-than",
    type=click.IntRange(min=0),
    default=3600,
    show_default=True,
    help="Only files last written at least this many seconds ago, so an upload in flight is safe.",
)
@click.option("--dry-run", is_flag=True, help="Only list the files that would be deleted.")
def prune_command(older_than: int, dry_run: bool) -> None:
    """Delete the files in the upload folder that no account references (lost uploads, leftovers)."""
    removed = prune_unreferenced_pictures(
        current_app.extensions["uploads"].folder, older_than, dry_run=dry_run
    )
    for name in removed:
        click.echo(f"{'Would remove' if dry_run else 'Removed'} {name}")
    click.echo(f"{'Would remove' if dry_run else 'Removed'} {len(removed)} unreferenced files.")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@mail.command("send")
@click.option(
    "--loop",
    is_flag=True,
    help="Keep going, a pass every MAIL_POLL_SECONDS, until stopped (for a long-running service).",
)
def send_mail_command(loop: bool) -> None:
    """Deliver the messages that are due: new ones, and failed ones whose retry time has come.

    For MAIL_SENDER=cron, run it every minute (cron, a systemd timer) or as a service with --loop.
    """
    while True:
        counts = send_due()
        if not loop or counts:
            click.echo(
                f"Sent {counts['sent']}, to retry later {counts['retry']}, "
                f"given up on {counts['failed']} (see: flask mail list)."
            )
        if not loop:
            return
        time.sleep(current_app.config["MAIL_POLL_SECONDS"])


@mail.command("list")
@click.option("--all", "everything", is_flag=True, help="Sent messages too.")
def list_mail_command(everything: bool) -> None:
    """Print the messages not delivered (pending, and failed: given up on), oldest first."""
    query = sa.select(MailMessage).order_by(MailMessage.id)
    if not everything:
        query = query.where(MailMessage.status != "sent")
    header = f"{'id':>6}  {'status':<8} {'to':<32} {'template':<22} tries {'next try/sent (UTC)':<19}"
    click.echo(f"{header}  error")
    for message in db.session.scalars(query):
        when = {"pending": message.next_attempt_at, "sent": message.sent_at}.get(message.status)
        click.echo(
            f"{message.id:>6}  {message.status:<8} {message.to_address:<32} {message.template:<22} "
            f"{message.attempts:>5} {f'{when:%Y-%m-%d %H:%M:%S}' if when else '-':<19}  "
            f"{message.last_error or '-'}"
        )
