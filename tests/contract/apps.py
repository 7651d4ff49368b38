"""Each service's app over its fakes, with the keys that open its routes (no Kafka, no MongoDB)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from credreg_issuer.adapters.fakes import in_memory_adapters
from credreg_issuer.bootstrap import build_app as build_issuer
from credreg_issuer.settings import IssuerSettings
from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemoryOwnerQuotas,
    InMemorySubscriptions,
    RecordedOutcomes,
    ScriptedSender,
    StaticWebhookTargets,
)
from credreg_notifier.bootstrap import build_app as build_notifier
from credreg_notifier.ports import Adapters as NotifierAdapters
from credreg_notifier.settings import NotifierSettings
from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryView
from credreg_registry.bootstrap import build_app as build_registry
from credreg_registry.ports import Adapters as RegistryAdapters
from credreg_registry.settings import RegistrySettings
from credreg_revocation.adapters.fakes import (
    InMemoryCredentialIssuer,
    InMemoryCredentialRepository,
    InMemoryExpiryPolicies,
    InMemoryExpirySchedule,
)
from credreg_revocation.bootstrap import build_app as build_revocation
from credreg_revocation.ports import Adapters as RevocationAdapters
from credreg_revocation.settings import RevocationSettings
from credreg_shared.api_keys import InMemoryInstitutionKeys
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging import InMemoryPublisher

INSTITUTION = "did:web:uni.example"
INSTITUTION_KEY = "contract-institution-key"
ADMIN_KEY = "contract-admin-key"
NAMESPACE = "contract."
HOLDER = "did:example:ada"
HOLDER_TOKEN_KEY = Ed25519KeyPair.generate()
"""The registry mints holder tokens with it; the other services check them with its public key."""
HOLDER_TOKEN, _ = HolderTokenMinter(HOLDER_TOKEN_KEY, lifetime=timedelta(hours=2)).mint(
    HOLDER, authenticated_by="did"
)


@dataclass(frozen=True)
class Service:
    """How to build one service over fakes, and the bearer token of each auth scheme."""

    name: str
    build: Callable[[], FastAPI]
    tokens: dict[str, str] = field(default_factory=dict)
    """Security scheme name → a token it takes."""


def issuer(publisher: InMemoryPublisher | None = None, **changes: Any) -> FastAPI:
    """The issuer: one institution key from settings, the admin routes on."""
    settings = IssuerSettings(
        topic_namespace=NAMESPACE,
        api_keys={INSTITUTION_KEY: INSTITUTION},
        admin_api_key=ADMIN_KEY,
        key_encryption_key=f"k1:{KeyEncryptionKeyring.generate_kek()}",
        signing_processes=0,
        **changes,
    )
    return build_issuer(settings, fakes=in_memory_adapters(publisher=publisher))


def registry(
    view: InMemoryView | None = None, keys: InMemoryInstitutionKeys | None = None
) -> FastAPI:
    """The registry over an in-memory view (empty unless given), minting holder tokens; `keys`
    are the kept keys it takes (none unless given)."""
    view = InMemoryView() if view is None else view
    settings = RegistrySettings(
        topic_namespace=NAMESPACE,
        api_keys={INSTITUTION_KEY: INSTITUTION},
        holder_token_key=HOLDER_TOKEN_KEY.secret_multikey,
    )
    adapters = RegistryAdapters(
        documents=view,
        store=view,
        challenges=InMemoryChallenges(),
        keys=InMemoryInstitutionKeys() if keys is None else keys,
    )
    return build_registry(settings, fakes=adapters)


def revocation(
    credentials: InMemoryCredentialRepository | None = None,
    keys: InMemoryInstitutionKeys | None = None,
    issuer: InMemoryCredentialIssuer | None = None,
    publisher: InMemoryPublisher | None = None,
) -> FastAPI:
    """The revocation service over an ownership view (empty unless given)."""
    settings = RevocationSettings(
        topic_namespace=NAMESPACE, api_keys={INSTITUTION_KEY: INSTITUTION}
    )
    adapters = RevocationAdapters(
        credentials=InMemoryCredentialRepository() if credentials is None else credentials,
        publisher=InMemoryPublisher() if publisher is None else publisher,
        keys=InMemoryInstitutionKeys() if keys is None else keys,
        schedule=InMemoryExpirySchedule(),
        policies=InMemoryExpiryPolicies(),
        issuer=InMemoryCredentialIssuer() if issuer is None else issuer,
    )
    return build_revocation(settings, fakes=adapters)


def notifier(keys: InMemoryInstitutionKeys | None = None) -> FastAPI:
    """The notifier over empty subscriptions, taking the registry's holder tokens; public
    webhook targets only; `keys` are the kept keys it takes (none unless given)."""
    settings = NotifierSettings(
        topic_namespace=NAMESPACE,
        api_keys={INSTITUTION_KEY: INSTITUTION},
        holder_token_public_keys=[HOLDER_TOKEN_KEY.public_multikey],
    )
    adapters = NotifierAdapters(
        subscriptions=InMemorySubscriptions(),
        deliveries=InMemoryDeliveries(),
        targets=StaticWebhookTargets(allow_private=False, hosts={"wallet.example": ["8.8.8.8"]}),
        sender=ScriptedSender(),
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
        keys=InMemoryInstitutionKeys() if keys is None else keys,
    )
    return build_notifier(settings, fakes=adapters)


SERVICES = (
    Service(
        "issuer",
        issuer,
        {"institutionApiKey": INSTITUTION_KEY, "adminApiKey": ADMIN_KEY},
    ),
    Service(
        "registry",
        registry,
        {"institutionApiKey": INSTITUTION_KEY, "holderToken": HOLDER_TOKEN},
    ),
    Service("revocation", revocation, {"institutionApiKey": INSTITUTION_KEY}),
    Service(
        "notifier",
        notifier,
        {"institutionApiKey": INSTITUTION_KEY, "holderToken": HOLDER_TOKEN},
    ),
)
