"""API users and their bearer tokens; only a SHA-256 hash of a token is ever stored."""

from __future__ import annotations

import hashlib
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


def create_user(session: Session, *, name: str, role: Role, now: datetime) -> tuple[User, str]:
    """Create a user and return it with its token, which is shown once and never stored."""
    token = secrets.token_urlsafe(32)
    user = User(name=name, role=Role(role).value, token_hash=hash_token(token), created_at=now)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UserExists(f"a user named {name!r} already exists") from exc
    return user, token


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(select(User).where(User.token_hash == hash_token(token)))
