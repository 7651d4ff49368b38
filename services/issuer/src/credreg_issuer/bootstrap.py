"""The issuer's composition root: its service definition on the shared chassis."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request

from credreg_issuer import api
from credreg_issuer.adapters.mongo import (
    INDEXES,
    MongoBatches,
    MongoIdempotencyRecords,
    MongoInstitutions,
    MongoStatusLists,
)
from credreg_issuer.batch_issuance import BatchWorker, IssueBatches
from credreg_issuer.batches import MAX_BATCH_BYTES
from credreg_issuer.cpu import CpuRunner, process_pool, run_inline
from credreg_issuer.domain import CredentialSigner
from credreg_issuer.ingress import INGRESS_BATCH, AnswerIssuanceRequests
from credreg_issuer.institutions import SLUG_PATTERN as SLUG
from credreg_issuer.institutions import Institution
from credreg_issuer.pathway_awards import AwardStackedCredentials
from credreg_issuer.ports import Adapters
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.use_cases import IssueCredentials, ManageInstitutions, ManageStatusLists
from credreg_shared.api_keys import KeptApiKey
from credreg_shared.auth import ApiKeyTable, institution_resolver
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.events.topics import (
    INSTITUTIONS_TOPIC,
    ISSUANCE_REQUESTS_TOPIC,
    ISSUANCE_RESULTS_TOPIC,
    PATHWAYS_TOPIC,
    issuance_requests_topic,
)
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.runtime import (
    Platform,
    ServiceDefinition,
    build_service_app,
    credentials_consumer,
)
from credreg_shared.workers import Worker


def real_adapters(platform: Platform) -> Adapters:
    """The issuer's ports over the platform's MongoDB database and Kafka publisher, and its
    signing processes."""
    processes = getattr(platform.settings, "signing_processes", 0)
    run_cpu: CpuRunner = run_inline
    if processes:
        run_cpu, shutdown = process_pool(processes)
        platform.resources.callback(shutdown)
    return Adapters(
        records=MongoIdempotencyRecords(platform.db),
        publisher=platform.publisher,
        institutions=MongoInstitutions(platform.db),
        status_lists=MongoStatusLists(platform.db),
        batches=MongoBatches(platform.db),
        run_cpu=run_cpu,
        dead_letters=platform.publisher,
        ensure_topics=platform.ensure_topics,
    )


async def kept_key(request: Request, digest: str) -> KeptApiKey | None:
    """An API key kept for an institution, from the app's `ManageInstitutions`."""
    manager: ManageInstitutions = request.app.state.use_cases[ManageInstitutions]
    return await manager.kept_key(digest)


def build_app(
    settings: IssuerSettings | None = None,
    *,
    fakes: Adapters | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The issuer app: real adapters in its lifespan, or `fakes` and no connection at all.

    Its consumer takes revocations, to set the bits of the status lists kept here. `clock` is
    the issuance time (validity windows of new credentials, `validFrom`) and the batches'
    (tests move it by hand).
    """
    config = settings or IssuerSettings()
    signer = CredentialSigner(config.signing_key_pairs(), cryptosuite=config.signing_cryptosuite)

    keyring = config.keyring()

    def request_topics(slugs: Iterable[str]) -> dict[str, int]:
        return {
            config.topic(issuance_requests_topic(slug)): config.topic_partitions for slug in slugs
        }

    def institutions_of(adapters: Adapters) -> ManageInstitutions:
        create_topics = adapters.ensure_topics

        async def open_request_topic(institution: Institution) -> None:
            # Its registrar can post requests over Kafka at once (broker ACLs permitting).
            if create_topics is not None:
                await create_topics(request_topics([institution.slug]))

        return ManageInstitutions(
            store=adapters.institutions,
            keyring=keyring,
            did_web_host=config.did_web_host,
            publisher=adapters.publisher,
            topic=config.topic(INSTITUTIONS_TOPIC),
            source=config.source,
            on_created=open_request_topic,
        )

    def status_lists_of(adapters: Adapters, institutions: ManageInstitutions) -> ManageStatusLists:
        return ManageStatusLists(
            store=adapters.status_lists,
            institutions=institutions,
            base_url=config.status_list_base_url,
        )

    def issuing(adapters: Adapters, institutions: ManageInstitutions) -> IssueCredentials:
        return IssueCredentials(
            publisher=adapters.publisher,
            records=adapters.records,
            signer=signer,
            topic=config.topic(CREDENTIALS_TOPIC),
            source=config.source,
            institutions=institutions,
            status_lists=status_lists_of(adapters, institutions),
            # Longer than the publisher's wait for the ack, so a lease outlives its publish.
            publication_lease=timedelta(seconds=config.publish_timeout_seconds + 5),
            run_cpu=adapters.run_cpu,
            clock=clock,
            id_secret=(
                config.credential_id_secret.get_secret_value().encode()
                if config.credential_id_secret
                else None
            ),
        )

    # The routes queue the batches they store; this process's batch worker takes them.
    submitted: asyncio.Queue[str] = asyncio.Queue()

    def batches_of(adapters: Adapters) -> IssueBatches:
        issue = issuing(adapters, institutions_of(adapters))
        return IssueBatches(
            store=adapters.batches,
            issue=issue,
            submitted=submitted,
            lease=timedelta(seconds=config.batch_lease_seconds),
            clock=clock,
        )

    def use_cases(adapters: Adapters) -> list[object]:
        institutions = institutions_of(adapters)
        issue = issuing(adapters, institutions)
        return [issue, institutions, issue.status_lists, batches_of(adapters)]

    def ingress_of(adapters: Adapters) -> AnswerIssuanceRequests:
        institutions = institutions_of(adapters)
        return AnswerIssuanceRequests(
            issue=issuing(adapters, institutions),
            institutions=institutions,
            publisher=adapters.publisher,
            requests_prefix=config.topic(ISSUANCE_REQUESTS_TOPIC),
            results_topic=config.topic(ISSUANCE_RESULTS_TOPIC),
            source=config.source,
        )

    def workers(adapters: Adapters) -> dict[str, Worker]:
        running: dict[str, Worker] = {
            "batches": BatchWorker(batches_of(adapters), poll=config.batch_poll_seconds)
        }
        if adapters.dead_letters is not None:
            ingress = ingress_of(adapters)
            running["ingress"] = credentials_consumer(
                config,
                ingress.register(HandlerRegistry()),
                adapters.dead_letters,
                group=f"{config.consumer_group}-ingress",
                max_records=INGRESS_BATCH,
                # The institutions' own topics, not their dead-letter topics.
                pattern=rf"^{re.escape(config.topic(ISSUANCE_REQUESTS_TOPIC))}\.{SLUG}$",
                on_dead_letter=ingress.on_dead_letter,
            )
        if adapters.dead_letters is not None:
            # Stacked credentials of completed pathways, each once (its own group).
            awards = AwardStackedCredentials(issue=issuing(adapters, institutions_of(adapters)))
            running["pathway awards"] = credentials_consumer(
                config,
                awards.register(HandlerRegistry()),
                adapters.dead_letters,
                group=f"{config.consumer_group}-pathways",
                topics=(PATHWAYS_TOPIC,),
            )
        return running

    def projection(adapters: Adapters) -> HandlerRegistry:
        status_lists = status_lists_of(adapters, institutions_of(adapters))
        return status_lists.register(HandlerRegistry())

    async def startup(adapters: Adapters) -> None:
        institutions = institutions_of(adapters)
        await institutions.check_keyring()
        if adapters.ensure_topics is not None:
            slugs = [i.slug for i in await institutions.all()]
            await adapters.ensure_topics(
                {
                    config.topic(ISSUANCE_RESULTS_TOPIC): config.topic_partitions,
                    config.topic(PATHWAYS_TOPIC): config.topic_partitions,
                }
                | request_topics(slugs)
            )

    definition = ServiceDefinition(
        api=api,
        indexes=INDEXES,
        adapters=real_adapters,
        use_cases=use_cases,
        startup=startup,
        workers=workers,
        body_limits={"/v1/credential-batches": MAX_BATCH_BYTES},
        # Revocations flip the bits of the status lists kept here.
        projection=projection,
    )
    app = build_service_app(definition, config, fakes=fakes)
    # Where the registry serves credential views: the 201's Location starts with it.
    app.state.credentials_url = config.credentials_url
    # This service only issues: kept keys need the `issue` scope.
    app.state.authenticate = institution_resolver(
        ApiKeyTable(config.api_keys), kept_key, scope="issue"
    )
    admin_key = config.admin_api_key
    app.state.admin_api_key = admin_key.get_secret_value() if admin_key else None
    return app
