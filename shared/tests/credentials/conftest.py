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
    from credreg_shared.credentials.samples import sample_micro_credential

    def build(*, issuer: str = "did:web:registrar.example.edu", **overrides: object):
        return sample_micro_credential(issuer=issuer, **overrides)

    return build
