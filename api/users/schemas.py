"""User request and response bodies; a token appears once, in the response that made it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.paths import IdField
from api.timefmt import local
from store.models import Role, User


class UserRead(BaseModel):
    id: int
    name: str
    role: Role
    community_id: int | None = Field(description="null for admins, and for analysts of every community")
    phone: str | None = Field(description="to @-mention her in a group robot's message")
    has_password: bool = Field(description="whether she can sign in on the web page with a password")
    created_at: datetime

    @classmethod
    def build(cls, user: User, *, tz: ZoneInfo) -> UserRead:
        return cls(id=user.id, name=user.name, role=user.role, community_id=user.community_id, phone=user.phone,
                   has_password=user.password_hash is not None, created_at=local(user.created_at, tz))


class Me(UserRead):
    community: str | None = Field(description="her community's name")


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$", description="unique; signs in with it")
    role: Role
    community_id: IdField | None = Field(
        None, description="admins: the user's community (none for an admin; none for an analyst of every "
        "community); a secretary leaves it out (her own)")
    password: str | None = Field(None, min_length=8, max_length=200,
                                 description="for signing in on the web page; at least 8 characters")
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 ()-]{2,31}$")


class TokenRead(BaseModel):
    user: UserRead
    token: str = Field(description="send it as 'Authorization: Bearer <token>'; shown once, only its hash is kept")
