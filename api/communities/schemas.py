"""Community request and response bodies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.timefmt import local
from store.models import Community

Name = Field(min_length=1, max_length=100, pattern=r"\S", description="the community's name, unique")
SEE_ALL = "true: every cadre of the community sees all its households, not only those assigned to her"


class CommunityRead(BaseModel):
    id: int
    name: str
    cadres_see_all: bool = Field(description=SEE_ALL)
    created_at: datetime

    @classmethod
    def build(cls, community: Community, *, tz: ZoneInfo) -> CommunityRead:
        return cls(id=community.id, name=community.name, cadres_see_all=community.cadres_see_all,
                   created_at=local(community.created_at, tz))


class CommunityPage(BaseModel):
    items: list[CommunityRead]
    total: int = Field(description="communities you may see, across all pages")
    limit: int
    offset: int


class CommunityCreate(BaseModel):
    name: str = Name
    cadres_see_all: bool = Field(False, description=SEE_ALL)


class CommunityPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S", description="a new name")
    cadres_see_all: bool | None = Field(None, description=SEE_ALL)
