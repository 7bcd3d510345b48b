from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: str
    institution_id: int
    locale: str


class MePatch(BaseModel):
    """The signed-in user's own preferences."""

    model_config = ConfigDict(extra="forbid")

    locale: Literal["en", "ja"]  # the UI language; alert e-mails are written in it


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    days: int | None = Field(default=90, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str
    name: str | None = None
    expires_at: datetime | None = None
