"""Validation against the official Open Badges 3.0 AchievementCredential JSON Schema."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator

_SCHEMAS = resources.files(__package__) / "schemas"
ACHIEVEMENT_CREDENTIAL_SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"


@cache
def _validator() -> Draft201909Validator:
    schema = json.loads((_SCHEMAS / ACHIEVEMENT_CREDENTIAL_SCHEMA_FILE).read_text("utf-8"))
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def achievement_credential_errors(document: Any) -> list[str]:
    """Return the OB 3.0 schema violations of a credential, as `path: message` lines."""
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(error.path))
    return [f"{error.json_path}: {error.message}" for error in errors]
