"""The AsyncAPI document: committed and current, valid AsyncAPI 3.0.0, true to models and codec."""

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from credreg_shared.events import topics
from credreg_shared.events.asyncapi import (
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_MESSAGE,
    MAX_ERROR_LENGTH,
    PARTIES,
    build_document,
    render,
)
from credreg_shared.events.cloudevents import to_record
from credreg_shared.events.models import EVENT_MODELS, EventData, IssuanceRequested
from credreg_shared.events.samples import every_event_kind, sample_envelope
from credreg_shared.messaging import dead_letters

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "docs" / "asyncapi.json"
ASYNCAPI_SCHEMA = Path(__file__).parent / "asyncapi-schema" / "3.0.0.json"
DOCUMENT_URI = "urn:credreg:asyncapi"
SLUG = "northern-college"


@cache
def document() -> dict[str, Any]:
    return build_document()


@cache
def asyncapi_validator() -> Draft7Validator:
    """The official schema, its `$id`-named parts and draft-07; a `Registry()` fetches nothing."""
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    registry: Registry[Any] = (
        Registry()
        .with_resources(
            [
                (schema["$id"], Resource.from_contents(schema)),
                (
                    Draft7Validator.META_SCHEMA["$id"],
                    DRAFT7.create_resource(Draft7Validator.META_SCHEMA),
                ),
            ]
        )
        .crawl()
    )
    return Draft7Validator(schema, registry=registry)


def in_document(pointer: str) -> Draft7Validator:
    """A validator for the schema at `pointer` in the document, its `$ref`s resolved there."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT7.create_resource(document())
    )
    return Draft7Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def payload_of(event_type: str) -> Draft7Validator:
    return in_document(f"/components/messages/{event_type}/payload")


def record_headers(data: EventData) -> tuple[str, dict[str, str]]:
    """The key and the headers of the Kafka record the codec makes for `data`, as text."""
    record = to_record(sample_envelope(data))
    return record.key.decode(), {name: value.decode() for name, value in record.headers}


def resolve(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    found: Any = document()
    for part in pointer[2:].split("/"):
        found = found[part.replace("~1", "/").replace("~0", "~")]
    return found


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_committed_document_is_current() -> None:
    if not COMMITTED.exists() or COMMITTED.read_text() != render(document()):
        pytest.fail("docs/asyncapi.json differs from build_document(): run `make asyncapi`")


class TestAsyncApiSchema:
    def test_the_document_is_valid_asyncapi_3(self) -> None:
        assert document()["asyncapi"] == "3.0.0"
        errors = [
            f"{error.json_path}: {error.message[:200]}"
            for error in asyncapi_validator().iter_errors(document())
        ]
        assert errors == []

    broken: ClassVar[dict[str, Any]] = {
        "an operation with an AsyncAPI 2 action": {"action": "publish"},
        "an operation without a channel": {"channel": None},
    }

    @pytest.mark.parametrize("change", list(broken.values()), ids=list(broken))
    def test_the_schema_catches_a_broken_document(self, change: dict[str, Any]) -> None:
        broken = copy.deepcopy(document())
        operation = broken["operations"]["issuer.send.credreg.credentials"]
        for name, value in change.items():
            if value is None:
                del operation[name]
            else:
                operation[name] = value
        assert not asyncapi_validator().is_valid(broken)

    def test_the_document_is_self_contained(self) -> None:
        text = json.dumps(document())
        assert "$defs" not in text
        found = list(refs(document()))
        assert found
        for ref in found:
            assert resolve(ref) is not None, ref


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_every_model_is_a_message_on_the_channel_of_its_topic(event_type: str) -> None:
    model = EVENT_MODELS[event_type]
    channel = document()["channels"][model.topic]
    assert resolve(channel["messages"][event_type]["$ref"]) is resolve(
        f"#/components/messages/{event_type}"
    )
    message = document()["components"]["messages"][event_type]
    assert message["name"] == event_type
    assert message["title"] == model.__name__
    assert message["headers"]["properties"]["ce_type"]["const"] == event_type
    assert message["payload"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    address = channel["address"].format(**dict.fromkeys(channel.get("parameters", {}), SLUG))
    expected = topics.issuance_requests_topic(SLUG) if model is IssuanceRequested else model.topic
    assert address == expected


def test_a_new_model_gets_its_channel_and_message() -> None:
    class Audited(EventData):
        event_type: ClassVar[str] = "org.credreg.test.audited.v1"
        topic: ClassVar[str] = "credreg.audit"
        audit_id: str

        def event_subject(self) -> str:
            """The audit id."""
            return self.audit_id

    built = build_document({**EVENT_MODELS, Audited.event_type: Audited})
    assert list(built["channels"]["credreg.audit"]["messages"]) == [Audited.event_type]
    assert "credreg.audit.dlq" in built["channels"]
    message = built["components"]["messages"][Audited.event_type]
    assert message["headers"]["properties"]["ce_subject"]["description"] == "The audit id."
    assert message["bindings"]["kafka"]["key"]["description"] == "The audit id."
    assert built["components"]["schemas"]["Audited"]["required"] == ["audit_id"]


def test_samples_cover_every_event_type() -> None:
    assert {data.event_type for data in every_event_kind()} == set(EVENT_MODELS)


@pytest.mark.parametrize("data", every_event_kind(), ids=lambda data: data.event_type)
def test_every_sample_is_valid_against_its_message(data: EventData) -> None:
    payload = data.model_dump(mode="json")
    payload_of(data.event_type).validate(payload)
    key, headers = record_headers(data)
    message = f"/components/messages/{data.event_type}"
    in_document(f"{message}/headers").validate(headers)
    in_document(f"{message}/bindings/kafka/key").validate(key)
    assert set(resolve(f"#{message}/headers")["required"]) == set(headers)


@pytest.mark.parametrize("data", every_event_kind(), ids=lambda data: data.event_type)
def test_a_sample_without_a_required_field_is_refused(data: EventData) -> None:
    payload = data.model_dump(mode="json")
    required = resolve(f"#/components/schemas/{type(data).__name__}")["required"]
    assert required
    for name in required:
        assert not payload_of(data.event_type).is_valid(
            {field: value for field, value in payload.items() if field != name}
        ), name


@pytest.mark.parametrize("data", every_event_kind(), ids=lambda data: data.event_type)
def test_headers_carry_the_type_of_their_message_only(data: EventData) -> None:
    _, headers = record_headers(data)
    others = [event_type for event_type in EVENT_MODELS if event_type != data.event_type]
    assert not in_document(f"/components/messages/{others[0]}/headers").is_valid(headers)


class TestIssuanceRequestCommand:
    @staticmethod
    def request() -> dict[str, Any]:
        (data,) = [data for data in every_event_kind() if isinstance(data, IssuanceRequested)]
        return data.model_dump(mode="json")

    def test_credential_is_the_issue_credential_schema(self) -> None:
        schemas = document()["components"]["schemas"]
        credential = schemas["IssuanceRequested"]["properties"]["credential"]
        assert credential == {"$ref": "#/components/schemas/IssueCredential"}
        assert schemas["IssueCredential"]["required"] == ["holder_id", "achievement"]

    def test_a_command_without_holder_is_refused(self) -> None:
        request = self.request()
        del request["credential"]["holder_id"]
        errors = list(payload_of(topics.ISSUANCE_REQUESTED_V1).iter_errors(request))
        assert [list(error.absolute_path) for error in errors] == [["credential"]]
        assert "'holder_id' is a required property" in errors[0].message

    def test_an_unknown_command_field_is_refused(self) -> None:
        request = self.request()
        request["credential"]["achievement"]["grade"] = "A"
        assert not payload_of(topics.ISSUANCE_REQUESTED_V1).is_valid(request)

    def test_hours_as_a_number_is_accepted_as_the_issuer_does(self) -> None:
        request = self.request()
        request["credential"]["achievement"]["hours"] = 12.5
        payload_of(topics.ISSUANCE_REQUESTED_V1).validate(request)


class TestDeadLetters:
    def test_every_topic_has_its_dead_letter_channel(self) -> None:
        channels = document()["channels"]
        for topic in {model.topic for model in EVENT_MODELS.values()}:
            dlq = channels[topics.dlq_topic(topic)]
            assert dlq["address"] == topics.dlq_topic(channels[topic]["address"])
            assert dlq.get("parameters") == channels[topic].get("parameters")
            assert resolve(dlq["messages"]["dead-letter"]["$ref"]) is resolve(
                f"#/components/messages/{DEAD_LETTER_MESSAGE}"
            )

    def test_headers_are_those_the_platform_writes(self) -> None:
        assert set(DEAD_LETTER_HEADERS) == dead_letters.DEAD_LETTER_HEADERS
        assert MAX_ERROR_LENGTH == dead_letters.MAX_ERROR_LENGTH
        original = to_record(sample_envelope()).headers
        written = dead_letters.dead_letter_headers(
            original,
            error="x" * 5000,
            error_type="invalid_event.invalid_data",
            topic=topics.CREDENTIALS_TOPIC,
            partition=2,
            offset=1234,
            group_id="credreg-registry",
            attempts=0,
        )
        headers = in_document(f"/components/messages/{DEAD_LETTER_MESSAGE}/headers")
        headers.validate({name: value.decode() for name, value in written})
        assert not headers.is_valid({name: value.decode() for name, value in original})


class TestOperations:
    def test_every_event_type_has_a_sender_and_a_receiver(self) -> None:
        operations = document()["operations"].values()
        for action in ("send", "receive"):
            covered = {
                ref.rsplit("/", 1)[1]
                for operation in operations
                if operation["action"] == action
                for ref in (message["$ref"] for message in operation["messages"])
            }
            assert set(EVENT_MODELS) <= covered, action

    def test_operations_follow_the_parties_table(self) -> None:
        operations = document()["operations"]
        for party in PARTIES:
            for action, event_types in (("send", party.sends), ("receive", party.receives)):
                for event_type in event_types:
                    channel = EVENT_MODELS[event_type].topic
                    operation = operations[f"{party.name}.{action}.{channel}"]
                    assert operation["action"] == action
                    assert operation["channel"] == {"$ref": f"#/channels/{channel}"}
                    assert {"$ref": f"#/channels/{channel}/messages/{event_type}"} in operation[
                        "messages"
                    ]
        assert operations["registry.send.credreg.credentials.dlq"]["messages"] == [
            {"$ref": "#/channels/credreg.credentials.dlq/messages/dead-letter"}
        ]
        assert not any(
            name.startswith("registrar.send.") and name.endswith(".dlq") for name in operations
        )

    def test_an_operation_only_names_messages_of_its_channel(self) -> None:
        for operation in document()["operations"].values():
            channel = operation["channel"]["$ref"]
            for message in operation["messages"]:
                assert message["$ref"].startswith(f"{channel}/messages/")
                resolve(message["$ref"])
