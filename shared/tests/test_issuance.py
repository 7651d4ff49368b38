"""The issuance command's digest: stable when optional fields are added, old records still match."""

from __future__ import annotations

import hashlib

from credreg_shared.issuance import IssueCredential

BODY = {
    "holder_id": "did:example:ada",
    "achievement": {"name": "Data Literacy", "competencies": [{"name": "Read charts"}]},
}


def test_fields_at_their_defaults_do_not_change_the_digest() -> None:
    bare = IssueCredential.model_validate(BODY)
    explicit = IssueCredential.model_validate(
        {**BODY, "valid_until": None, "achievement": {**BODY["achievement"], "assessment": None}}
    )
    other = IssueCredential.model_validate({**BODY, "holder_id": "did:example:grace"})

    assert bare.digest() == explicit.digest()
    assert bare.digest() != other.digest()


def test_a_digest_stored_before_defaults_were_left_out_still_matches() -> None:
    command = IssueCredential.model_validate(BODY)
    legacy = hashlib.sha256(command.model_dump_json().encode()).hexdigest()
    elsewhere = IssueCredential.model_validate({**BODY, "holder_id": "did:example:grace"})

    assert legacy != command.digest()
    assert command.is_digested_as(legacy)
    assert command.is_digested_as(command.digest())
    assert not elsewhere.is_digested_as(legacy)
