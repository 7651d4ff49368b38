"""A representative micro-credential (five competencies, every extension field) for tests and
benchmarks, built by the model so it always validates against the OB 3.0 schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from credreg_shared.credentials.model import (
    Accreditation,
    Achievement,
    AchievementCredential,
    AchievementSubject,
    Alignment,
    AssessmentMethod,
    Criteria,
    Pathway,
    Profile,
)

SAMPLE_ISSUER = "did:web:registrar.example.edu"
SAMPLE_HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SAMPLE_CREDENTIAL_ID = "urn:uuid:0b9a4c44-6f3c-4a53-9d2a-4a1f0c6a7e01"


def sample_achievement() -> Achievement:
    """An achievement with five aligned competencies, hours, delivery, assessment and partners."""
    return Achievement(
        id="https://registrar.example.edu/achievements/data-analysis-101",
        name="Applied Data Analysis",
        description="Cleans, analyses and visualises tabular data for business decisions.",
        criteria=Criteria(narrative="Pass the capstone project and the proctored exam."),
        alignment=[
            Alignment(
                target_name=f"Competency {n}",
                target_url=f"https://frameworks.example.org/data/competency-{n}",
                target_framework="Example Data Skills Framework",
                target_code=f"DS-{n}",
            )
            for n in range(1, 6)
        ],
        learning_hours="42.5",
        delivery_mode="blended",
        assessment=AssessmentMethod(assessment_type="project", description="Capstone."),
        accreditation=[
            Accreditation(
                id="https://quality.example.org/accreditations/2026-114",
                accreditor=Profile(id="https://quality.example.org", name="Quality Board"),
            )
        ],
        industry_partner=[Profile(id="https://partner.example.com", name="Partner Inc.")],
        stacks_into=[
            Pathway(id="https://registrar.example.edu/pathways/data", name="Data Certificate")
        ],
    )


def sample_micro_credential(
    *,
    issuer: str = SAMPLE_ISSUER,
    holder: str = SAMPLE_HOLDER,
    credential_id: str = SAMPLE_CREDENTIAL_ID,
    **overrides: Any,
) -> AchievementCredential:
    """The representative unsigned credential; `overrides` replace top-level fields."""
    fields: dict[str, Any] = {
        "id": credential_id,
        "name": "Applied Data Analysis micro-credential",
        "issuer": Profile(id=issuer, name="Example University"),
        "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
        "credential_subject": AchievementSubject(id=holder, achievement=sample_achievement()),
    }
    fields.update(overrides)
    return AchievementCredential(**fields)
