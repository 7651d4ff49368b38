"""Fixtures for credential tests: the official vectors copied into `vectors/`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_DIR = Path(__file__).parent / "vectors"


class Vectors:
    """Reads the vector files exactly as published."""

    def json(self, relative: str) -> Any:
        """Read one vector file as JSON."""
        return json.loads((VECTORS_DIR / relative).read_text(encoding="utf-8"))

    def text(self, relative: str) -> str:
        """Read one vector file as text."""
        return (VECTORS_DIR / relative).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def vectors() -> Vectors:
    """Access to the copied W3C and 1EdTech vectors."""
    return Vectors()


@pytest.fixture
def micro_credential():
    """A representative unsigned micro-credential with five competencies, built by the model."""
    from datetime import UTC, datetime

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

    def build(*, issuer: str = "did:web:registrar.example.edu", **overrides: object):
        achievement = Achievement(
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
                    accreditor=Profile(id="https://quality.example.org", name="Quality Board")
                )
            ],
            industry_partner=[Profile(id="https://partner.example.com", name="Partner Inc.")],
            stacks_into=[
                Pathway(id="https://registrar.example.edu/pathways/data", name="Data Certificate")
            ],
        )
        fields: dict[str, object] = {
            "id": "urn:uuid:0b9a4c44-6f3c-4a53-9d2a-4a1f0c6a7e01",
            "name": "Applied Data Analysis micro-credential",
            "issuer": Profile(id=issuer, name="Example University"),
            "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
            "credential_subject": AchievementSubject(
                id="did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
                achievement=achievement,
            ),
        }
        fields.update(overrides)
        return AchievementCredential(**fields)  # type: ignore[arg-type]

    return build
