"""Parsing of the XML Schema dateTime values used by `validFrom` and `validUntil`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?\Z"
)


def parse_datetime(value: Any) -> datetime | None:
    """Parse an XML Schema dateTime into an aware datetime (UTC if no zone); None if invalid."""
    if not isinstance(value, str):
        return None
    match = _DATETIME.match(value)
    if match is None:
        return None
    fraction = (match["fraction"] or "")[:7].ljust(7, "0") if match["fraction"] else ""
    zone = match["zone"] or "Z"
    text = f"{match['date']}T{match['time']}{fraction}{'+00:00' if zone == 'Z' else zone}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC)
