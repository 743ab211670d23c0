"""Resident request and response bodies: a display name, phones and notes, nothing more."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.households.schemas import ResidentRead

Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{2,31}$")]
PHONES = "phone numbers: digits, spaces, '-', '(', ')' and a leading '+'; her own first, then her family's"
NAME = "what the cadre calls her, e.g. 董阿姨"


class ResidentPage(BaseModel):
    items: list[ResidentRead]
    total: int
    limit: int
    offset: int


class ResidentCreate(BaseModel):
    display_name: str = Field(min_length=1, max_length=100, pattern=r"\S", description=NAME)
    phones: list[Phone] = Field(default_factory=list, max_length=10, description=PHONES)
    notes: str = Field("", max_length=2000, description="what helps: hard of hearing, a key with the neighbour")


class ResidentPatch(BaseModel):
    display_name: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S", description=NAME)
    phones: list[Phone] | None = Field(None, max_length=10, description=PHONES)
    notes: str | None = Field(None, max_length=2000)
