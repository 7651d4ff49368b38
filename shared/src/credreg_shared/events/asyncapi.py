"""The AsyncAPI 3.0 document of the event contract, generated from the models (`make asyncapi`)."""

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from credreg_shared.events import topics
from credreg_shared.events.cloudevents import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    HEADER_PREFIX,
    SPECVERSION,
    InvalidEventReason,
)
from credreg_shared.events.models import EVENT_MODELS, EventData, IssuanceRequested
from credreg_shared.issuance import IssueCredential

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
SCHEMAS_REF: Final = "#/components/schemas/"
DEAD_LETTER_MESSAGE: Final = "credreg.dead-letter"

# Events are described as they are on the wire (what producers write with `model_dump_json`);
# the command embedded in a request is written by registrars, so it is described by what the
# issuer accepts (`IssueCredential.model_validate`: e.g. `hours` as a number or a string).
EVENT_SCHEMA_MODE: Final[JsonSchemaMode] = "serialization"
COMMAND_SCHEMA_MODE: Final[JsonSchemaMode] = "validation"
EMBEDDED_COMMANDS: Final[Mapping[tuple[type[EventData], str], type[BaseModel]]] = {
    (IssuanceRequested, "credential"): IssueCredential,
}
"""Event fields kept as a JSON object (a bad command still parses) whose contract is a model."""

Action = Literal["send", "receive"]


@dataclass(frozen=True)
class Party:
    """A credreg service, or a system outside credreg, and the event types it sends and receives."""

    name: str
    description: str
    sends: tuple[str, ...] = ()
    receives: tuple[str, ...] = ()
    outside: bool = False


PARTIES: Final = (
    Party(
        "issuer",
        "Signs and issues credentials; keeps institutions, their API keys and the status lists.",
        sends=(
            topics.CREDENTIAL_ISSUED_V1,
            topics.API_KEY_ISSUED_V1,
            topics.API_KEY_REVOKED_V1,
            topics.ISSUANCE_RESULT_V1,
        ),
        # pathway.completed: the award of the pathway's stacked credential, where it names one
        # (pathway.defined: its award checked with the issuer's rules as soon as it is defined).
        receives=(
            topics.ISSUANCE_REQUESTED_V1,
            topics.CREDENTIAL_REVOKED_V1,
            topics.PATHWAY_DEFINED_V1,
            topics.PATHWAY_COMPLETED_V1,
        ),
    ),
    Party(
        "revocation",
        "Revokes, suspends and reinstates credentials; schedules expiry notices.",
        sends=(
            topics.CREDENTIAL_REVOKED_V1,
            topics.CREDENTIAL_SUSPENDED_V1,
            topics.CREDENTIAL_REINSTATED_V1,
            topics.CREDENTIAL_EXPIRED_V1,
            topics.CREDENTIAL_EXPIRING_V1,
        ),
        receives=(
            topics.CREDENTIAL_ISSUED_V1,
            topics.CREDENTIAL_REVOKED_V1,
            topics.CREDENTIAL_SUSPENDED_V1,
            topics.CREDENTIAL_REINSTATED_V1,
            topics.CREDENTIAL_EXPIRED_V1,
            topics.API_KEY_ISSUED_V1,
            topics.API_KEY_REVOKED_V1,
        ),
    ),
    Party(
        "registry",
        "The credential view: portfolios, verification, search; stackable pathways (their "
        "definitions, every holder's progress, one completion per holder and pathway).",
        sends=(topics.PATHWAY_DEFINED_V1, topics.PATHWAY_COMPLETED_V1),
        receives=(
            topics.CREDENTIAL_ISSUED_V1,
            topics.CREDENTIAL_REVOKED_V1,
            topics.CREDENTIAL_SUSPENDED_V1,
            topics.CREDENTIAL_REINSTATED_V1,
            topics.CREDENTIAL_EXPIRED_V1,
            topics.CREDENTIAL_EXPIRING_V1,
        ),
    ),
    Party(
        "notifier",
        "Tells wallets about lifecycle changes (signed webhooks, server-sent events).",
        receives=(
            topics.CREDENTIAL_REVOKED_V1,
            topics.CREDENTIAL_SUSPENDED_V1,
            topics.CREDENTIAL_REINSTATED_V1,
            topics.CREDENTIAL_EXPIRED_V1,
            topics.CREDENTIAL_EXPIRING_V1,
        ),
    ),
    Party(
        "registrar",
        "An institution's registrar system (outside credreg) that asks for credentials over Kafka.",
        sends=(topics.ISSUANCE_REQUESTED_V1,),
        receives=(topics.ISSUANCE_RESULT_V1,),
        outside=True,
    ),
)
"""Who sends and receives which event types: the one table the operations are made from."""

TOPIC_DESCRIPTIONS: Final[Mapping[str, str]] = {
    topics.CREDENTIALS_TOPIC: "Every lifecycle event of a credential, keyed by credential id so "
    "that one credential's events stay in order.",
    topics.PATHWAYS_TOPIC: "Stackable pathways: their definitions (keyed by pathway id) and the "
    "holders who complete them (keyed by holder id; one completion per holder and pathway, its "
    "id derived from both).",
    topics.INSTITUTIONS_TOPIC: "Institutions' API keys, issued and revoked (by digest, never the "
    "key itself), keyed by institution id.",
    topics.ISSUANCE_REQUESTS_TOPIC: "One topic per institution, where its registrar system posts "
    "issuance requests: broker ACLs let only that institution write there, and the issuer "
    "subscribes by pattern. The request id is the record key and the idempotency key.",
    topics.ISSUANCE_RESULTS_TOPIC: "The issuer's answer to every issuance request (accepted with "
    "the credential id, or rejected with the errors), keyed by the same request id.",
}

INSTITUTION_PARAMETER: Final = "institution"
PARAMETERISED_ADDRESSES: Final[Mapping[str, tuple[str, dict[str, Any]]]] = {
    topics.ISSUANCE_REQUESTS_TOPIC: (
        topics.issuance_requests_topic(f"{{{INSTITUTION_PARAMETER}}}"),
        {
            INSTITUTION_PARAMETER: {
                "description": "The institution's slug.",
                "examples": ["northern-college"],
            }
        },
    ),
}
"""Topics that are a family of topics: their address template and its parameters."""

# `credreg_shared.messaging.dead_letters` writes these headers; the contract may not import the
# platform (import-linter), so a test keeps the two in step.
MAX_ERROR_LENGTH: Final = 2000
DECIMAL: Final = "^[0-9]+$"
DEAD_LETTER_HEADERS: Final[Mapping[str, dict[str, Any]]] = {
    "credreg_error": {
        "type": "string",
        "maxLength": MAX_ERROR_LENGTH,
        "description": f"What went wrong (cut at {MAX_ERROR_LENGTH} characters).",
    },
    "credreg_error_type": {
        "type": "string",
        "description": "Why, as a code: `invalid_event.<reason>` (reason: "
        + ", ".join(f"`{reason.value}`" for reason in InvalidEventReason)
        + "), `unhandled_type`, `unprocessable` or `handler_failed.<exception class>`.",
    },
    "credreg_source_topic": {"type": "string", "description": "The topic the record came from."},
    "credreg_source_partition": {
        "type": "string",
        "pattern": DECIMAL,
        "description": "Its partition there.",
    },
    "credreg_source_offset": {
        "type": "string",
        "pattern": DECIMAL,
        "description": "Its offset there.",
    },
    "credreg_consumer_group": {
        "type": "string",
        "description": "The consumer group that gave up on it.",
    },
    "credreg_attempts": {
        "type": "string",
        "pattern": DECIMAL,
        "description": "How many times a handler ran it (0: refused before any handler ran).",
    },
}


def build_document(models: Mapping[str, type[EventData]] = EVENT_MODELS) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic, event type and party's operations."""
    payloads, schemas = _payload_schemas(models)
    messages = {
        event_type: _message(event_type, model, payloads[event_type])
        for event_type, model in models.items()
    }
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "credreg events",
            "version": metadata.version("credreg-shared"),
            "description": _INFO_DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The local broker that `make up` starts.",
            }
        },
        "channels": _channels(models),
        "operations": _operations(models),
        "components": {"messages": messages, "schemas": schemas},
    }


_INFO_DESCRIPTION: Final = (
    "The credreg event contract, generated from `credreg_shared.events.models` "
    "(`make asyncapi`; do not edit by hand).\n\n"
    "Every record is a CloudEvent 1.0 in Kafka binary content mode: the value is the event's "
    "JSON `data` (the message payload), the context attributes travel as `ce_*` headers next to "
    "`content-type: application/json`, and `ce_source` + `ce_id` is the consumers' dedupe key. "
    "A change that would break a consumer is a new type version (`.v2`) with an upcaster, never "
    "an edit. Each topic has a dead-letter topic `<topic>.dlq` for the records a consumer could "
    "not process. A deployment may prefix every topic name (`CREDREG_TOPIC_NAMESPACE`)."
)


def _payload_schemas(
    models: Mapping[str, type[EventData]],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each event type's payload (a `$ref`) and every schema they use, for `components/schemas`."""
    embedded = {
        (model, field): command
        for (model, field), command in EMBEDDED_COMMANDS.items()
        if model in models.values()
    }
    refs, top = models_json_schema(
        [(model, EVENT_SCHEMA_MODE) for model in models.values()]
        + [(command, COMMAND_SCHEMA_MODE) for command in embedded.values()],
        ref_template=SCHEMAS_REF + "{model}",
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    for (model, field), command in embedded.items():
        event_schema = schemas[_component_name(refs[(model, EVENT_SCHEMA_MODE)])]
        event_schema["properties"][field] = refs[(command, COMMAND_SCHEMA_MODE)]
    payloads = {
        event_type: refs[(model, EVENT_SCHEMA_MODE)] for event_type, model in models.items()
    }
    return payloads, schemas


def _component_name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).removeprefix(SCHEMAS_REF)


def _message(event_type: str, model: type[EventData], payload: dict[str, Any]) -> dict[str, Any]:
    """One event type: its CloudEvents headers, its data as payload and its record key."""
    subject = _doc(model.event_subject)
    # A model that keeps the default record key is keyed by its subject.
    key = subject if model.record_key is EventData.record_key else _doc(model.record_key)
    summary, _, description = _doc(model).partition("\n\n")
    message: dict[str, Any] = {
        "name": event_type,
        "title": model.__name__,
        "summary": " ".join(summary.split()),
        "contentType": CONTENT_TYPE,
        "headers": _cloudevent_headers(event_type, subject),
        "payload": payload,
        "bindings": _kafka_key(key),
    }
    if description:
        message["description"] = description
    return message


def _cloudevent_headers(event_type: str, subject: str) -> dict[str, Any]:
    """The JSON schema of the ``ce_*`` and ``content-type`` headers of one event type."""
    attributes: dict[str, dict[str, Any]] = {
        "specversion": {"type": "string", "const": SPECVERSION},
        "id": {
            "type": "string",
            "format": "uuid",
            "description": "The event id; with `ce_source`, the consumers' dedupe key.",
        },
        "source": {
            "type": "string",
            "format": "uri-reference",
            "minLength": 1,
            "description": "URI of the service or issuer that produced the event.",
        },
        "type": {"type": "string", "const": event_type},
        "time": {
            "type": "string",
            "format": "date-time",
            "description": "When it happened (RFC 3339).",
        },
        "subject": {"type": "string", "minLength": 1, "description": subject},
    }
    properties = {HEADER_PREFIX + name: schema for name, schema in attributes.items()}
    properties[CONTENT_TYPE_HEADER] = {"type": "string", "const": CONTENT_TYPE}
    return {"type": "object", "properties": properties, "required": list(properties)}


def _dead_letter_message() -> dict[str, Any]:
    """A record copied to a ``.dlq`` topic: unchanged, plus why and where it failed."""
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A record a consumer could not process, copied with why and where it failed.",
        "description": "Key, value and headers are the original record's (its `ce_*` headers "
        "included), with the `credreg_*` headers of this failure in place of any earlier ones.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": dict(DEAD_LETTER_HEADERS),
            "required": list(DEAD_LETTER_HEADERS),
        },
        "payload": {
            "description": "The original record value, byte for byte: usually an event's JSON "
            "data, but anything at all (not being valid JSON is one way to get here)."
        },
        "bindings": _kafka_key("The original record's key."),
    }


def _kafka_key(description: str) -> dict[str, Any]:
    key: dict[str, Any] = {"type": "string"}
    if description:
        key["description"] = description
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _channels(models: Mapping[str, type[EventData]]) -> dict[str, Any]:
    """A channel per topic of the models, with its event types, and one per dead-letter topic."""
    channels: dict[str, Any] = {}
    for topic, event_types in _event_types_by_topic(models).items():
        address, parameters = PARAMETERISED_ADDRESSES.get(topic, (topic, {}))
        channel: dict[str, Any] = {
            "address": address,
            "messages": {event_type: _message_ref(event_type) for event_type in event_types},
        }
        dead_letters: dict[str, Any] = {
            "address": topics.dlq_topic(address),
            "description": f"The records of `{address}` that a consumer could not process "
            "(bad schema, unknown type, a handler that kept failing).",
            "messages": {"dead-letter": _message_ref(DEAD_LETTER_MESSAGE)},
        }
        if topic in TOPIC_DESCRIPTIONS:
            channel["description"] = TOPIC_DESCRIPTIONS[topic]
        if parameters:
            channel["parameters"] = parameters
            dead_letters["parameters"] = parameters
        channels[topic] = channel
        channels[topics.dlq_topic(topic)] = dead_letters
    return channels


def _event_types_by_topic(models: Mapping[str, type[EventData]]) -> dict[str, list[str]]:
    by_topic: dict[str, list[str]] = {}
    for event_type, model in models.items():
        by_topic.setdefault(model.topic, []).append(event_type)
    return by_topic


def _message_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{name}"}


def _operations(models: Mapping[str, type[EventData]]) -> dict[str, Any]:
    """Each party's sends and receives per channel, and each service's dead-lettering."""
    unknown = {
        event_type
        for party in PARTIES
        for event_type in party.sends + party.receives
        if event_type not in models
    }
    if unknown:
        raise ValueError(f"PARTIES names event types without a model: {sorted(unknown)}")
    operations: dict[str, Any] = {}
    for party in PARTIES:
        actions: tuple[tuple[Action, tuple[str, ...]], ...] = (
            ("send", party.sends),
            ("receive", party.receives),
        )
        for action, event_types in actions:
            for topic, on_topic in _event_types_by_topic(
                {event_type: models[event_type] for event_type in event_types}
            ).items():
                operations[f"{party.name}.{action}.{topic}"] = _operation(
                    party, action, topic, on_topic
                )
                if action == "receive" and not party.outside:
                    dlq = topics.dlq_topic(topic)
                    operations[f"{party.name}.send.{dlq}"] = _operation(
                        party, "send", dlq, ["dead-letter"]
                    )
    return operations


def _operation(party: Party, action: Action, channel: str, messages: list[str]) -> dict[str, Any]:
    verb = "sends" if action == "send" else "receives"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
        "summary": f"The {party.name} {verb} {', '.join(messages)}.",
        "description": party.description,
        "tags": [{"name": party.name}],
    }


def _doc(obj: object) -> str:
    return inspect.getdoc(obj) or ""


def render(document: Mapping[str, Any]) -> str:
    """The document as committed: sorted keys, indented, with a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(build_document()), end="")
