"""Kafka topic names and CloudEvents type strings of the credreg event contract (DESIGN §4)."""

from typing import Final

CREDENTIALS_TOPIC: Final = "credreg.credentials"
"""Every lifecycle event of a credential; record key = credential id (keeps their order)."""

PATHWAYS_TOPIC: Final = "credreg.pathways"
"""Pathway events; record key = holder id (pathway id for definitions)."""

ISSUANCE_REQUESTS_TOPIC: Final = "credreg.issuance-requests"
"""Prefix of the institutions' issuance-request topics (`issuance_requests_topic`)."""

ISSUANCE_RESULTS_TOPIC: Final = "credreg.issuance-results"
"""The issuer's answer to each issuance request; record key = the same request id."""

INSTITUTIONS_TOPIC: Final = "credreg.institutions"
"""Institutions' API keys, issued and revoked; record key = institution id."""

DLQ_SUFFIX: Final = ".dlq"


def issuance_requests_topic(institution_slug: str) -> str:
    """An institution's own request topic (broker ACLs let only it write there); record key =
    the institution's request id, which is also the request's idempotency key."""
    return f"{ISSUANCE_REQUESTS_TOPIC}.{institution_slug}"


def dlq_topic(topic: str) -> str:
    """Name of the dead-letter topic that holds the records of `topic` no consumer could process."""
    return f"{topic}{DLQ_SUFFIX}"


CREDENTIAL_ISSUED_V1: Final = "org.credreg.credential.issued.v1"
CREDENTIAL_REVOKED_V1: Final = "org.credreg.credential.revoked.v1"
CREDENTIAL_SUSPENDED_V1: Final = "org.credreg.credential.suspended.v1"
CREDENTIAL_REINSTATED_V1: Final = "org.credreg.credential.reinstated.v1"
CREDENTIAL_EXPIRED_V1: Final = "org.credreg.credential.expired.v1"
CREDENTIAL_EXPIRING_V1: Final = "org.credreg.credential.expiring.v1"
PATHWAY_DEFINED_V1: Final = "org.credreg.pathway.defined.v1"
PATHWAY_COMPLETED_V1: Final = "org.credreg.pathway.completed.v1"
API_KEY_ISSUED_V1: Final = "org.credreg.institution.api-key.issued.v1"
API_KEY_REVOKED_V1: Final = "org.credreg.institution.api-key.revoked.v1"
ISSUANCE_REQUESTED_V1: Final = "org.credreg.issuance.requested.v1"
ISSUANCE_RESULT_V1: Final = "org.credreg.issuance.result.v1"
