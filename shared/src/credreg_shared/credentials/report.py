"""The structured result of verifying a credential: named checks, each with a reason."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field


class Outcome(StrEnum):
    """How a check ended; only `failed` makes a credential unacceptable."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not-applicable"


class Check(BaseModel):
    """One verification check with its outcome and the reason for it."""

    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    reason: str
    error_code: str | None = None
    details: list[str] = []
    warnings: list[str] = []
    """What a verifier may want to know although the check passed."""


class VerificationReport(BaseModel):
    """Every check run on one credential."""

    model_config = ConfigDict(frozen=True)

    credential_id: str | None
    checked_at: datetime
    checks: list[Check]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verified(self) -> bool:
        """True only when no check failed."""
        return all(check.outcome is not Outcome.FAILED for check in self.checks)

    def check(self, name: str) -> Check:
        """Return the check with this name."""
        return next(check for check in self.checks if check.name == name)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the report as JSON-compatible data."""
        return self.model_dump(mode="json")
