"""Record ids as the registry routes take them: 32-bit, as every database anxin runs on stores them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2**31 - 1

Id = Annotated[int, Path(ge=1, le=MAX_ID)]  # in a path
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]  # in a body or a query
