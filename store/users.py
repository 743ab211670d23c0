"""API users, their bearer tokens and passwords.

Only a SHA-256 hash of a token is ever stored, and only a salted scrypt hash of a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.errors import StoreError
from store.models import Role, User


class UserExists(StoreError):
    """A user with that name already exists; pick another name."""


def hash_token(token: str) -> str:
    # Tokens are 256-bit random, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


# scrypt's recommended interactive cost (2**14) with r=8: about 16 MiB and a few tens of ms a check.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def create_user(
    session: Session,
    *,
    name: str,
    role: Role,
    now: datetime,
    community_id: int | None = None,
    password: str | None = None,
    phone: str | None = None,
) -> tuple[User, str]:
    """Create a user and return it with its token, which is shown once and never stored."""
    token = secrets.token_urlsafe(32)
    user = User(name=name, role=Role(role).value, token_hash=hash_token(token), created_at=now,
                community_id=community_id, phone=phone,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UserExists(f"a user named {name!r} already exists") from exc
    return user, token


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(select(User).where(User.token_hash == hash_token(token)))


def user_for_password(session: Session, name: str, password: str) -> User | None:
    """The user with this name and password, for signing in on the web page; None otherwise."""
    user = session.scalar(select(User).where(User.name == name))
    return user if user is not None and password_matches(password, user.password_hash) else None


def new_token(session: Session, user: User) -> str:
    """Give ``user`` a new token (the old one stops working) and return it, shown once."""
    token = secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    session.flush()
    return token
