"""Markers' deletes gathered into one command."""

from typing import Any

from pymongo.errors import AutoReconnect

from credreg_shared.storage import DeferredDeletes


class Markers:
    """A collection that records each `delete_many`, or fails it."""

    def __init__(self, *, fail: bool = False) -> None:
        self.deletes: list[list[str]] = []
        self.fail = fail

    async def delete_many(self, query: dict[str, Any]) -> None:
        if self.fail:
            raise AutoReconnect("the server went away")
        self.deletes.append(list(query["_id"]["$in"]))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_deletes_go_out_a_batch_at_a_time() -> None:
    markers = Markers()
    deferred = DeferredDeletes(markers, batch=3, max_age=60, clock=Clock())  # type: ignore[arg-type]
    for marker in ("a", "b", "c", "d"):
        await deferred.add(marker)
    assert markers.deletes == [["a", "b", "c"]]
    await deferred.flush()
    await deferred.flush()  # nothing left: no empty command
    assert markers.deletes == [["a", "b", "c"], ["d"]]


async def test_a_marker_waits_no_longer_than_max_age_once_another_comes() -> None:
    markers, clock = Markers(), Clock()
    deferred = DeferredDeletes(markers, batch=100, max_age=1.0, clock=clock)  # type: ignore[arg-type]
    await deferred.add("a")
    clock.now += 0.5
    await deferred.add("b")
    assert markers.deletes == []
    clock.now += 0.5
    await deferred.add("c")
    assert markers.deletes == [["a", "b", "c"]]


async def test_batch_one_deletes_at_once() -> None:
    markers = Markers()
    deferred = DeferredDeletes(markers, batch=1)  # type: ignore[arg-type]
    await deferred.add("a")
    assert markers.deletes == [["a"]]


async def test_an_outage_leaves_the_markers_to_the_tidying_look() -> None:
    markers = Markers(fail=True)
    deferred = DeferredDeletes(markers, batch=1)  # type: ignore[arg-type]
    await deferred.add("a")  # logged, not raised: the write it followed is done
    assert deferred.waiting == []
