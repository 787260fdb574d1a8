"""Rate limits kept in the database, so that every worker and every server counts the same events.

Each limit is a sliding window: at most ``max_events`` events of a bucket
within the last ``window`` seconds. (The ``limits`` package that
Flask-Limiter uses has no SQL storage, and the database is the one store
every deployment of this service already shares.)
"""

import hashlib
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import RateLimited
from ..extensions import db
from ..models import KnownClient, RateEvent

# A network this account logged in from this recently is not held back by the account-wide limit.
KNOWN_CLIENT_DAYS = 30


@dataclass(frozen=True)
class Limit:
    max_events: int
    window: int


@dataclass(frozen=True)
class ThrottleSettings:
    """The limits, read from the config once."""

    login_account_ip: Limit
    login_account: Limit
    login_ip: Limit
    registration_ip: Limit
    registration_attempts_ip: Limit

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ThrottleSettings":
        return cls(
            login_account_ip=Limit(config["LOGIN_MAX_FAILURES"], config["LOGIN_LOCKOUT_SECONDS"]),
            login_account=Limit(config["LOGIN_ACCOUNT_MAX_FAILURES"], config["LOGIN_ACCOUNT_WINDOW"]),
            login_ip=Limit(config["LOGIN_IP_MAX_FAILURES"], config["LOGIN_IP_WINDOW"]),
            registration_ip=Limit(config["REGISTRATION_MAX_PER_IP"], config["REGISTRATION_WINDOW"]),
            registration_attempts_ip=Limit(
                config["REGISTRATION_ATTEMPTS_PER_IP"], config["REGISTRATION_WINDOW"]
            ),
        )


@dataclass(frozen=True)
class Bucket:
    """A named counter and its limit; the name is stored only as a digest."""

    key: str
    limit: Limit
    # The digest of the account whose login it holds back (``account_digest``), if any.
    account: str | None = None

    @classmethod
    def named(cls, limit: Limit, *parts: str, account: str | None = None) -> "Bucket":
        return cls(hashlib.sha256("\x1f".join(parts).encode()).hexdigest(), limit, account)


def account_digest(account_key: str) -> str:
    """What rate events store of the account they count against: a digest, never the name."""
    return hashlib.sha256(f"account\x1f{account_key}".encode()).hexdigest()


def client_network(ip: str) -> str:
    """What limits count a client by: an IPv4 address, or the /64 network of an IPv6 address.

    One IPv6 client usually holds a whole /64 and can pick a new address for every request.
    An IPv4-mapped IPv6 address counts as its IPv4 address; anything unreadable as itself.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


def login_buckets(settings: ThrottleSettings, account_key: str, ip: str) -> list[Bucket]:
    """Failed password checks count per account and client, per account, and per client."""
    network, account = client_network(ip), account_digest(account_key)
    return [
        Bucket.named(settings.login_account_ip, "login-account-ip", account_key, network, account=account),
        Bucket.named(settings.login_account, "login-account", account_key, account=account),
        Bucket.named(settings.login_ip, "login-ip", network),
    ]


def registration_bucket(settings: ThrottleSettings, ip: str) -> Bucket:
    """Accounts created per client."""
    return Bucket.named(settings.registration_ip, "registration-ip", client_network(ip))


def registration_attempts_bucket(settings: ThrottleSettings, ip: str) -> Bucket:
    """``createUser`` attempts per client, whatever their outcome."""
    return Bucket.named(settings.registration_attempts_ip, "registration-attempts-ip", client_network(ip))


def take_attempt(
    buckets: Sequence[Bucket], now: datetime, *, uncapped: Sequence[Bucket] = ()
) -> list[int]:
    """Count one attempt in every bucket, or raise ``RateLimited`` (with the longest wait) if one is full.

    The attempt is written before the buckets are counted, in one
    transaction, so attempts that arrive together are serialised by the
    database and cannot all squeeze into the last free slot. A refused
    attempt is not counted. The attempt is counted in the ``uncapped``
    buckets too, but a full one does not refuse it. Commits, and returns the
    ids of the attempt's events (in the order of the buckets): plain ids, as
    another attempt may delete the rows before this one is done with them.
    """
    _serialise([*buckets, *uncapped])
    events = record_events([*buckets, *uncapped], now)
    db.session.flush()
    waits = [wait for bucket in buckets if (wait := _seconds_until_free(bucket, now)) is not None]
    if waits:
        db.session.rollback()
        raise RateLimited(max(waits))
    ids = [event.id for event in events]
    db.session.commit()
    return ids


def record_events(buckets: Sequence[Bucket], now: datetime) -> list[RateEvent]:
    """Count one event in each bucket, dropping the events that have left their windows."""
    for bucket in buckets:
        db.session.execute(
            sa.delete(RateEvent).where(
                RateEvent.bucket == bucket.key,
                RateEvent.created_at <= now - timedelta(seconds=bucket.limit.window),
            )
        )
    events = [RateEvent(bucket=bucket.key, created_at=now, account=bucket.account) for bucket in buckets]
    db.session.add_all(events)
    return events


def forget_events(ids: Sequence[int], *, reset: Sequence[Bucket] = ()) -> None:
    """Uncount the events ``ids``, and empty the ``reset`` buckets altogether (the caller commits).

    Emptying a bucket deletes other attempts' events too, while those attempts
    may be deleting their own: on PostgreSQL two logins succeeding at once
    would lock each other's rows in opposite orders (a deadlock, one login
    failing). The bucket's lock, taken first, makes them take turns.
    """
    _serialise(reset)
    if ids:
        db.session.execute(sa.delete(RateEvent).where(RateEvent.id.in_(ids)))
    for bucket in reset:
        db.session.execute(sa.delete(RateEvent).where(RateEvent.bucket == bucket.key))


def is_known_client(user_id: int, ip: str, now: datetime) -> bool:
    """Whether the user logged in from this client's network within ``KNOWN_CLIENT_DAYS``."""
    return (
        db.session.scalar(
            sa.select(KnownClient.id).where(
                KnownClient.user_id == user_id,
                KnownClient.network == _network_digest(ip),
                KnownClient.last_login_at > now - timedelta(days=KNOWN_CLIENT_DAYS),
            )
        )
        is not None
    )


def remember_client(user_id: int, ip: str, now: datetime) -> None:
    """Record a successful login from this client's network (the caller commits).

    One statement inserts or updates, so two logins at once cannot both insert.
    """
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(
        insert(KnownClient)
        .values(user_id=user_id, network=_network_digest(ip), last_login_at=now)
        .on_conflict_do_update(index_elements=["user_id", "network"], set_={"last_login_at": now})
    )


def _network_digest(ip: str) -> str:
    return hashlib.sha256(client_network(ip).encode()).hexdigest()


def _serialise(buckets: Sequence[Bucket]) -> None:
    """Make concurrent attempts on the same buckets take turns until the transaction ends.

    SQLite lets one writer in at a time, so the first write does it. PostgreSQL
    lets writers run side by side: a transaction-scoped advisory lock per bucket does it there.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        for bucket in sorted(buckets, key=lambda bucket: bucket.key):
            db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(int(bucket.key[:15], 16))))


def _seconds_until_free(bucket: Bucket, now: datetime) -> int | None:
    """``None`` if the attempt just recorded fits; else when the bucket has room again.

    The newest ``max_events + 1`` events include the attempt itself; it fits
    when there are no more than ``max_events``. Otherwise room comes when the
    oldest of the ``max_events`` earlier ones leaves the window.
    """
    limit = bucket.limit
    recent = db.session.scalars(
        sa.select(RateEvent.created_at)
        .where(RateEvent.bucket == bucket.key, RateEvent.created_at > now - timedelta(seconds=limit.window))
        .order_by(RateEvent.created_at.desc(), RateEvent.id.desc())
        .limit(limit.max_events + 1)
    ).all()
    if len(recent) <= limit.max_events:
        return None
    frees_at = recent[limit.max_events] + timedelta(seconds=limit.window)
    return max(1, math.ceil((frees_at - now).total_seconds()))


def just_filled(bucket: Bucket, now: datetime) -> bool:
    """Whether the bucket holds exactly ``max_events`` events in its window: the attempt just
    counted filled it, so the next one is refused (a lockout starts). Exactly, so that failures
    counted in a full bucket without being refused (a known client's) start no second lockout."""
    limit = bucket.limit
    in_window = (
        sa.select(RateEvent.id)
        .where(RateEvent.bucket == bucket.key, RateEvent.created_at > now - timedelta(seconds=limit.window))
        .limit(limit.max_events + 1)
        .subquery()
    )
    return db.session.scalar(sa.select(sa.func.count()).select_from(in_window)) == limit.max_events


def unlock_account(account_key: str) -> int:
    """Forget every login event counted against the account (its account-wide bucket and its
    account+address buckets, from any address), so it may log in again at once. Commits;
    returns how many events were forgotten. Limits per client address are left alone: they
    hold back a client, not this account."""
    forgotten = db.session.execute(
        sa.delete(RateEvent).where(RateEvent.account == account_digest(account_key))
    ).rowcount
    db.session.commit()
    return forgotten
