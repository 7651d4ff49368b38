"""What a registrar posts to issue one credential, validated at the edge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Text = Field(min_length=1, max_length=500)


class CompetencyIn(BaseModel):
    """One competency the credential certifies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Text
    framework_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    code: str | None = Field(default=None, min_length=1, max_length=100)


class AchievementIn(BaseModel):
    """The achievement: what was learnt, how long it took, how it was delivered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Text
    description: str | None = Field(default=None, max_length=5000)
    achievement_type: str = Field(default="MicroCredential", min_length=1, max_length=100)
    competencies: list[CompetencyIn] = Field(min_length=1, max_length=100)
    hours: float | None = Field(default=None, gt=0, le=10_000)
    delivery_mode: Literal["online", "in-person", "blended"] | None = None


class IssueRequest(BaseModel):
    """Issue one credential to one holder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holder_id: str = Field(min_length=1, max_length=500)
    achievement: AchievementIn
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        start = self.valid_from or datetime.now(UTC)
        if self.valid_until is not None and self.valid_until <= start:
            raise ValueError("valid_until must be after valid_from")
        return self
