"""How the pathways are laid out in the registry's base database (``credreg_registry.pathways``
describes each collection); every document is read by ``_id``."""

from __future__ import annotations

import json

from credreg_shared.events.cloudevents import derived_event_id

PATHWAYS = "pathways"
PATHWAY_INDEX = "pathway_index"
COMPONENTS = "pathway_components"
HOLDER_PATHWAYS = "holder_pathways"
COMPLETIONS = "pathway_completions"
OUTBOX = "pathway_outbox"
BACKFILL_QUEUE = "pathway_backfill_queue"

QUEUE_ID = "pending"
"""The one ``pathway_backfill_queue`` document: the back-fills to run, read by ``_id``."""
COMPLETED_PURPOSE = "pathway.completed"
DEFINED_PURPOSE = "pathway.defined"


def index_key(issuer_id: str, achievement_id: str) -> str:
    """The ``pathway_index`` id of an institution's achievement."""
    return json.dumps([issuer_id, achievement_id])


def component_key(holder_id: str, issuer_id: str, achievement_id: str) -> str:
    """The ``pathway_components`` id of a holder's credentials of one achievement."""
    return json.dumps([holder_id, issuer_id, achievement_id])


def completion_key(holder_id: str, pathway_id: str) -> str:
    """The ``pathway_completions`` (and outbox) id of a holder's completion of a pathway."""
    return json.dumps([holder_id, pathway_id])


def completion_event_id(holder_id: str, pathway_id: str) -> str:
    """The deterministic id of the ``pathway.completed`` event of (holder, pathway)."""
    return derived_event_id(completion_key(holder_id, pathway_id), COMPLETED_PURPOSE)


def backfill_entry(pathway_id: str, definition_event_id: str) -> str:
    """A queued back-fill: the pathway and the definition (its event id) whose holders it finds,
    so that a redefinition queues its own and the worker drops the one it replaced."""
    return json.dumps([pathway_id, definition_event_id])


def backfill_of(entry: str) -> tuple[str, str]:
    """(pathway id, definition event id) of a queued back-fill."""
    pathway_id, definition_event_id = json.loads(entry)
    return str(pathway_id), str(definition_event_id)
