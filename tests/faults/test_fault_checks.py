"""The fault driver's checks (bench/faults/faults.py), over synthetic logs: what counts as lost,
duplicated, out of order, and what a repeated event id is (no infrastructure needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from credreg_shared.testing import load_script

REPO = Path(__file__).resolve().parents[2]


faults: Any = load_script(REPO / "bench" / "faults" / "faults.py", "credreg_fault_driver")

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def credential(cid: str, *steps: tuple[str, str], valid_until: datetime | None = None) -> Any:
    made = faults.Credential(cid, "did:example:h", "test", f"key-{cid}", valid_until)
    made.steps = [faults.Step(action, outcome) for action, outcome in steps]
    return made


def record(cid: str, kind: str, event_id: str, offset: int) -> dict[str, Any]:
    return {
        "partition": 0,
        "offset": offset,
        "key": cid,
        "type": f"org.credreg.credential.{kind}.v1",
        "id": event_id,
        "source": "urn:test",
        "timestamp": "t",
        "data": {"credential_id": cid, "holder_id": "did:example:h"},
    }


def check(credentials: list[Any], kinds: list[tuple[str, str, str]]) -> dict[str, Any]:
    load = SimpleNamespace(credentials={c.id: c for c in credentials})
    records = [record(c, k, i, n) for n, (c, k, i) in enumerate(kinds)]
    verdict, _ = faults.check_log(load, records, NOW)  # type: ignore[arg-type]
    return verdict.figures


def test_a_clean_lifecycle_passes_and_a_repeated_event_id_is_no_duplicate() -> None:
    figures = check(
        [credential("c1", ("issue", "acked"), ("suspend", "acked"), ("reinstate", "acked"))],
        [
            ("c1", "issued", "e1"),
            ("c1", "issued", "e1"),  # the same event published again: consumers apply it once
            ("c1", "suspended", "e2"),
            ("c1", "reinstated", "e3"),
        ],
    )
    assert figures["lost"] == figures["duplicated"] == figures["out_of_order"] == 0
    assert figures["same_event_id_twice"] == 1
    assert figures["final_status_not_as_acknowledged"] == 0


def test_an_acknowledged_revocation_missing_from_the_log_is_lost() -> None:
    figures = check(
        [credential("c1", ("issue", "acked"), ("revoke", "acked"))], [("c1", "issued", "e1")]
    )
    assert figures["lost"] == 1


def test_a_request_of_unclear_fate_may_or_may_not_be_on_the_log() -> None:
    unclear = [credential("c1", ("issue", "acked"), ("revoke", "unknown"))]
    assert check(unclear, [("c1", "issued", "e1")])["lost"] == 0
    logged = check(unclear, [("c1", "issued", "e1"), ("c1", "revoked", "e2")])
    assert logged["lost"] == logged["duplicated"] == 0


def test_one_revocation_logged_twice_under_two_ids_is_a_duplicate() -> None:
    figures = check(
        [credential("c1", ("issue", "acked"), ("revoke", "acked"))],
        [("c1", "issued", "e1"), ("c1", "revoked", "e2"), ("c1", "revoked", "e3")],
    )
    assert figures["duplicated"] == 1
    assert figures["out_of_order"] == 0  # a repeat at once is a duplicate, not a reordering


def test_a_suspension_after_the_revocation_is_out_of_order() -> None:
    figures = check(
        [credential("c1", ("issue", "acked"), ("suspend", "acked"), ("revoke", "acked"))],
        [
            ("c1", "issued", "e1"),
            ("c1", "suspended", "e2"),
            ("c1", "revoked", "e3"),
            ("c1", "suspended", "e4"),
        ],
    )
    assert figures["out_of_order"] == 1
    assert figures["duplicated"] == 1


def test_an_expiry_is_expected_once_validuntil_has_passed() -> None:
    past = NOW - timedelta(minutes=1)
    expiring = credential("c1", ("issue", "acked"), valid_until=past)
    assert check([expiring], [("c1", "issued", "e1")])["expired_missing"] == 1
    done = check([expiring], [("c1", "issued", "e1"), ("c1", "expired", "e2")])
    assert done["expired_missing"] == 0
    assert done["final_status_not_as_acknowledged"] == 0


def test_the_status_a_log_gives_follows_the_lifecycle() -> None:
    events = [{"kind": k} for k in ("issued", "revoked", "suspended")]
    assert faults.expected_status(events) == "revoked"
    events = [{"kind": k} for k in ("issued", "suspended", "expiring", "reinstated")]
    assert faults.expected_status(events) == "active"
