"""Conditional GETs: which If-None-Match headers name a document's ETag."""

import pytest

from credreg_shared.web import not_modified, public_cache_headers

ETAG = '"abc.3"'


@pytest.mark.parametrize("header", [ETAG, f"W/{ETAG}", f'"other", {ETAG}', "*", f' "x" ,W/{ETAG} '])
def test_these_name_the_current_copy(header: str) -> None:
    assert not_modified(header, ETAG)


@pytest.mark.parametrize("header", [None, "", '"abc.2"', "abc.3", 'W/"abc"'])
def test_these_do_not(header: str | None) -> None:
    assert not not_modified(header, ETAG)


def test_public_documents_are_readable_from_any_origin() -> None:
    assert public_cache_headers(ETAG, "public, max-age=300") == {
        "ETag": ETAG,
        "Cache-Control": "public, max-age=300",
        "Access-Control-Allow-Origin": "*",
    }
