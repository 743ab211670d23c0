"""Signed-in browsers: the web page's sessions, kept as hashes of the random tokens in their cookies."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import User, WebSession
from store.users import hash_token


def start_session(session: Session, *, user: User, now: datetime, days: float) -> str:
    """Sign ``user`` in for ``days``; returns the token for the cookie, which is never stored."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=hash_token(token), user_id=user.id, created_at=now,
                           expires_at=now + timedelta(days=days)))
    # Expired sessions of anyone go on sign-in, so the table does not grow for ever.
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session.flush()
    return token


def user_for_session(session: Session, token: str, *, now: datetime) -> User | None:
    """The user signed in with ``token``, unless the session has expired or ended."""
    query = select(User).join(WebSession, WebSession.user_id == User.id).where(
        WebSession.token_hash == hash_token(token), WebSession.expires_at > now
    )
    return session.scalar(query)


def end_session(session: Session, token: str) -> bool:
    """Sign the browser out; False if it was not signed in."""
    result = session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))
    session.flush()
    return bool(result.rowcount)
