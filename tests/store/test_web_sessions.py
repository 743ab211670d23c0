"""Web sessions: only a hash is stored, they expire, and signing out ends them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from store.models import Role, WebSession
from store.users import create_user, hash_token
from store.web_sessions import end_session, start_session, user_for_session

NOW = datetime(2026, 11, 22, 5, tzinfo=UTC)


def test_a_session_signs_in_until_it_expires_or_ends(database):
    with database.session() as session:
        user, _ = create_user(session, name="li", role=Role.cadre, now=NOW)
        token = start_session(session, user=user, now=NOW, days=30)
        assert user_for_session(session, token, now=NOW + timedelta(days=29)).name == "li"
        assert user_for_session(session, token, now=NOW + timedelta(days=30)) is None
        assert user_for_session(session, "not-a-token", now=NOW) is None
        stored = session.scalars(select(WebSession.token_hash)).all()
        assert stored == [hash_token(token)]  # the token itself is never stored
        assert end_session(session, token)
        assert user_for_session(session, token, now=NOW) is None
        assert not end_session(session, token)


def test_signing_in_sweeps_expired_sessions(database):
    with database.session() as session:
        user, _ = create_user(session, name="li", role=Role.cadre, now=NOW)
        old = start_session(session, user=user, now=NOW - timedelta(days=40), days=30)
        start_session(session, user=user, now=NOW, days=30)
        assert session.scalar(select(WebSession.id).where(WebSession.token_hash == hash_token(old))) is None
        assert len(session.scalars(select(WebSession.id)).all()) == 1
