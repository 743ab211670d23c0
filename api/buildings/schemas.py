"""Building request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.paths import IdField
from store.models import Building, User


class UserRef(BaseModel):
    id: int
    name: str


class BuildingRead(BaseModel):
    id: int
    community_id: int
    name: str = Field(description="unique within the community, e.g. 3号楼; the `building` column of the meters CSV")
    managers: list[UserRef] = Field(description="the property managers of the building")

    @classmethod
    def build(cls, building: Building, *, managers: list[User]) -> BuildingRead:
        return cls(id=building.id, community_id=building.community_id, name=building.name,
                   managers=[UserRef(id=u.id, name=u.name) for u in managers])


class BuildingPage(BaseModel):
    items: list[BuildingRead]
    total: int = Field(description="buildings you may see, across all pages")
    limit: int
    offset: int


class BuildingCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"\S", description="unique within the community")
    community_id: IdField | None = Field(
        None, description="admins: the community it belongs to; a secretary leaves it out (her own)")
