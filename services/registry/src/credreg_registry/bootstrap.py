"""The registry's composition root: real adapters by default, fakes injectable for unit tests."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import Gauge

from credreg_registry import api
from credreg_registry.adapters.fakes import InMemoryHolderStore, InMemoryPathwayStore
from credreg_registry.adapters.mongo import (
    INDEXES,
    MongoChallenges,
    MongoHolderStore,
    MongoViewStore,
    SwitchableViewDocuments,
)
from credreg_registry.adapters.mongo_pathways import MongoPathwayStore
from credreg_registry.follower import ViewFollower
from credreg_registry.holder_auth import HolderAuthentication
from credreg_registry.pages import VERIFY_FORM_LIMIT, page_routes
from credreg_registry.pathway_backfill import Backfiller, BackfillWorker
from credreg_registry.pathways import (
    CompletionRelay,
    ManagePathways,
    PathwayStore,
    PathwayTracker,
)
from credreg_registry.ports import Adapters, ViewDocuments, ViewStore
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_registry.sharing import EmployerSearch, HolderSharing
from credreg_registry.use_cases import RegistryQueries, VerifyCredentials
from credreg_shared.api_keys import InstitutionKeysProjection, KeptKeys
from credreg_shared.auth import ApiKeyTable, institution_resolver
from credreg_shared.caller_auth import install_callers, kept_key
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.resolution import MaterialFetcher
from credreg_shared.events.topics import INSTITUTIONS_TOPIC, PATHWAYS_TOPIC
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.kept_keys import MongoInstitutionKeys
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.runtime import (
    Platform,
    ServiceDefinition,
    build_service_app,
    credentials_consumer,
)
from credreg_shared.web import metrics_registry
from credreg_shared.workers import Worker

SOURCE = "urn:credreg:registry"
"""The CloudEvents source of the events the registry publishes (the pathways')."""


def projection_registry(
    store: ViewStore, pathways: PathwayTracker | None = None
) -> HandlerRegistry:
    """The handler table of the projection that writes into `store` (and follows pathway
    progress with `pathways`)."""
    return CredentialProjection(store, pathways).register(HandlerRegistry())


def pathway_tracker(
    store: PathwayStore, view: ViewDocuments, publisher: EventPublisher, config: RegistrySettings
) -> PathwayTracker:
    """The tracker of pathway progress over one generation of the view."""
    return PathwayTracker(
        store=store,
        view=view,
        publisher=publisher,
        topic=config.topic(PATHWAYS_TOPIC),
        source=SOURCE,
    )


def real_adapters(platform: Platform, app: FastAPI, config: RegistrySettings) -> Adapters:
    """The view in the registry's database of the serving generation, read and written."""
    documents = SwitchableViewDocuments(platform.db)
    pathways = MongoPathwayStore(platform.db)

    def registry_for(store: ViewStore) -> HandlerRegistry:
        # The tracker reads the statuses from the generation its consumer writes.
        view = store.documents if isinstance(store, MongoViewStore) else documents
        return projection_registry(
            store, pathway_tracker(pathways, view, platform.publisher, config)
        )

    serving = Gauge(
        "credreg_registry_view_generation",
        "The generation of the view that readers are served from (0 until the first rebuild).",
        registry=metrics_registry(app),
    )
    follower = ViewFollower(
        settings=platform.settings,
        client=platform.db.client,
        dead_letters=platform.publisher,
        documents=documents,
        registry_for=registry_for,
        on_serving=serving.set,
        batch=config.view_batch,
    )
    app.state.follower = follower
    http = httpx.AsyncClient(timeout=5, follow_redirects=False)
    platform.close_on_shutdown(http.aclose)
    fetcher = MaterialFetcher(http, host_map=config.did_web_hosts)
    keys = MongoInstitutionKeys(platform.db)
    # Its own group: generation 0 of the view consumes as the service's group.
    keys_consumer = credentials_consumer(
        config,
        InstitutionKeysProjection(keys).register(HandlerRegistry()),
        platform.publisher,
        group=f"{config.consumer_group}-institutions",
        topics=(INSTITUTIONS_TOPIC,),
    )
    return Adapters(
        documents=documents,
        store=MongoViewStore(platform.db),
        background={"view consumer": follower, "institution keys": keys_consumer},
        keys=keys,
        verification_material=fetcher,
        challenges=MongoChallenges(platform.db),
        documents_source=fetcher,
        holders=MongoHolderStore(platform.db),
        pathways=pathways,
        publisher=platform.publisher,
        ensure_topics=platform.ensure_topics,
    )


def background(adapters: Adapters, config: RegistrySettings) -> dict[str, Worker]:
    """The view follower, the institution keys' consumer, the pathway completions' relay and
    the new definitions' back-fill."""
    workers = dict(adapters.background)
    if adapters.pathways is not None and adapters.publisher is not None:
        tracker = pathway_tracker(adapters.pathways, adapters.documents, adapters.publisher, config)
        workers["pathway completions relay"] = CompletionRelay(tracker)
        workers["pathway back-fill"] = BackfillWorker(Backfiller(tracker, adapters.documents))
    return workers


async def ensure_pathways_topic(adapters: Adapters, config: RegistrySettings) -> None:
    """The pathways topic (and its DLQ), where the registry publishes."""
    if adapters.ensure_topics is not None:
        await adapters.ensure_topics({config.topic(PATHWAYS_TOPIC): config.topic_partitions})


def token_minter(config: RegistrySettings) -> HolderTokenMinter | None:
    """The holder-token minter of the configured key, or None without one."""
    if config.holder_token_key is None:
        return None
    key = Ed25519KeyPair.from_secret_multikey(config.holder_token_key.get_secret_value())
    return HolderTokenMinter(key, lifetime=timedelta(minutes=config.holder_token_minutes))


def registry_use_cases(adapters: Adapters, config: RegistrySettings) -> list[object]:
    """The queries, the verifier that also asks them for the credential's status, the holders'
    authentication, their sharing (consent to search, share links) and the employer search."""
    holders = adapters.holders if adapters.holders is not None else InMemoryHolderStore()
    queries = RegistryQueries(documents=adapters.documents, holders=holders)
    tracker = pathway_tracker(
        adapters.pathways if adapters.pathways is not None else InMemoryPathwayStore(),
        adapters.documents,
        adapters.publisher if adapters.publisher is not None else InMemoryPublisher(),
        config,
    )
    return [
        queries,
        ManagePathways(tracker=tracker, view=adapters.documents),
        tracker,
        HolderSharing(documents=adapters.documents, holders=holders),
        EmployerSearch(documents=adapters.documents, holders=holders),
        VerifyCredentials(material=adapters.verification_material, queries=queries),
        HolderAuthentication(
            challenges=adapters.challenges,
            minter=token_minter(config),
            documents=adapters.documents_source,
        ),
        KeptKeys(adapters.keys),
    ]


def build_app(
    settings: RegistrySettings | None = None, *, fakes: Adapters | None = None
) -> FastAPI:
    """The registry app: HTTP API plus the view's consumer, both started by the lifespan.

    The consumer is the `ViewFollower` (a background worker rather than the chassis's
    projection), so that it can follow a rebuilt generation of the view. With `fakes`, the app
    serves the API from them and connects to nothing (no consumer).
    """
    config = settings or RegistrySettings()
    app_holder: list[FastAPI] = []
    definition = ServiceDefinition(
        api=api,
        indexes=INDEXES,
        adapters=lambda platform: real_adapters(platform, app_holder[0], config),
        use_cases=lambda adapters: registry_use_cases(adapters, config),
        workers=lambda adapters: background(adapters, config),
        startup=lambda adapters: ensure_pathways_topic(adapters, config),
        body_limits={"/verify": VERIFY_FORM_LIMIT},
    )
    app = build_service_app(definition, config, fakes=fakes)
    # Added to the app's own router: an included router would copy them as plain routes.
    app.router.routes.extend(page_routes())
    app_holder.append(app)
    install_callers(app, config)
    # Defining a pathway may award credentials: kept keys need the `issue` scope too.
    app.state.authenticate_issue = institution_resolver(
        ApiKeyTable(config.api_keys), kept_key, scope="issue"
    )
    return app
