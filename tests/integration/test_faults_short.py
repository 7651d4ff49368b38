"""The fault driver's short version (issue #15, part 1): 5,000 lifecycle events over the whole
system as processes (two replicas of each service), on the driver's own Kafka and Mongo-wire
server (private ports, wiped at the end), one fault of each kind with shortened down-times.

It runs in `make test` (about 3 minutes on the 2-core machine since the notifier and the
revocation service do fewer round trips per event; it took 7 to 10 before); set
`CREDREG_FAULTS_SHORT=0` to leave it out of a local run. `make faults` runs the full version;
bench/faults/faults.py says how.

Loss, a change on the log twice (distinct event ids), a credential out of order, a wrong view,
a wrong status-list bit, a notice told twice and a notice neither delivered nor dead fail it.
(The driver found changes on the log twice until the revocation service derived a change's
event id from the credential and its count of changes: a 503 after the publish timeout, while
the broker is down, still reaches the log later, and the retry now publishes the same event.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from credreg_shared.testing import load_script

REPO = Path(__file__).resolve().parents[2]


faults: Any = load_script(REPO / "bench" / "faults" / "faults.py", "credreg_fault_driver")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CREDREG_FAULTS_SHORT") == "0",
        reason="left out with CREDREG_FAULTS_SHORT=0 (about 3 min on 2 cores)",
    ),
]


@pytest.mark.timeout(1500)
def test_short_fault_run_loses_nothing(tmp_path: Path) -> None:
    exit_code = faults.main(
        [
            "--events",
            "5000",
            "--short",
            "--settle",
            "240",
            "--patience",
            "240",
            # A folder of its own and the driver's free ports below the ephemeral range (fixed
            # ones in that range were once taken by an outgoing connection): never the suite's
            # broker or a `make up`.
            "--infra-dir",
            str(REPO / ".local" / "faults-test-infra"),
            "--out",
            str(tmp_path),
        ]
    )
    written_files = list(tmp_path.glob("faults-*.json"))
    assert len(written_files) == 1, f"the driver wrote no result (exit {exit_code}): see its output"
    [written] = written_files
    result: dict[str, Any] = json.loads(written.read_text())
    keys = ("log", "registry", "status_lists", "notices", "problems")
    summary = json.dumps({k: result[k] for k in keys}, indent=1, default=str)[:6000]
    log, notices = result["log"], result["notices"]
    assert exit_code in (0, 1), summary
    assert {f["kind"] for f in result["faults"]} == {
        "service",
        "broker",
        "mongo",
        "webhook",
        "replica",
    }
    assert log["lost"] == 0, summary
    assert log["expired_missing"] == 0, summary
    assert result["registry"]["invisible"] == 0, summary
    assert result["registry"]["wrong_status"] == 0, summary
    assert result["status_lists"]["bits_wrong"] == 0, summary
    assert notices["neither_delivered_nor_dead"] == 0, summary
    # Since the revocation service derives a change's event id from the credential and its
    # count of changes, a retried change is the same event: no change twice, none out of order.
    assert log["duplicated"] == 0, summary
    assert log["out_of_order"] == 0, summary
    assert log["final_status_not_as_acknowledged"] == 0, summary
    assert notices["duplicate"] == 0, summary
    assert exit_code == 0, summary
