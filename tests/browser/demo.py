"""A registry over its fakes, seeded as a learner would see it: signed credentials from two
institutions (did:web, Ed25519, eddsa-rdfc-2022), their signed status lists, one credential
revoked (its bit set), one expiring soon; the verifier's material (DID documents, status lists)
answered from memory as if fetched."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from credreg_registry.adapters.fakes import InMemoryChallenges, InMemoryHolderStore, InMemoryView
from credreg_registry.bootstrap import build_app
from credreg_registry.pathway_backfill import Backfiller
from credreg_registry.pathways import ManagePathways, PathwayRequest, PathwayTracker
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.credentials.bitstring import Bitstring
from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.dids import did_web_document
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.model import (
    Accreditation,
    Achievement,
    AchievementCredential,
    AchievementSubject,
    Alignment,
    Criteria,
    Profile,
    StatusEntry,
)
from credreg_shared.credentials.status_list import build_status_list_credential
from credreg_shared.credentials.verification import VerificationMaterial
from credreg_shared.events import models
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.messaging.handlers import ConsumedEvent

HOLDER = "did:example:ada-lovelace"
OTHER_HOLDER = "did:example:grace-hopper"
TOKEN_KEY = Ed25519KeyPair.generate()
MINTER = HolderTokenMinter(TOKEN_KEY, lifetime=timedelta(hours=2))
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Institution:
    did: str
    name: str
    host: str
    key: Ed25519KeyPair = field(default_factory=Ed25519KeyPair.generate)
    revoked: set[int] = field(default_factory=set)

    @property
    def status_list_url(self) -> str:
        return f"https://{self.host}/status-lists/1"

    def document(self) -> dict[str, Any]:
        return did_web_document(self.did, {"key-1": self.key.public_key_bytes})

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        signed: dict[str, Any] = add_proof(
            document, key_pair=self.key, verification_method=f"{self.did}#key-1"
        )
        return signed

    def status_list(self) -> dict[str, Any]:
        bits = Bitstring()
        for index in self.revoked:
            bits.set(index, True)
        return self.sign(
            build_status_list_credential(
                url=self.status_list_url,
                issuer=self.did,
                purpose="revocation",
                bitstring=bits,
                valid_from=NOW - timedelta(days=1),
            )
        )


UNIVERSITY = Institution(
    "did:web:northern.example", "Northern University", "northern.example", revoked={102}
)
COLLEGE = Institution("did:web:harbour.example", "Harbour College", "harbour.example")


def credential_number(n: int) -> str:
    return f"urn:uuid:5e1f0000-0000-4000-8000-{n:012d}"


@dataclass(frozen=True)
class Course:
    n: int
    institution: Institution
    name: str
    hours: str
    delivery: str
    competencies: tuple[tuple[str, str], ...]
    holder: str = HOLDER
    accredited: bool = False
    valid_days: int = 730


COURSES = (
    Course(
        1,
        UNIVERSITY,
        "Applied Data Analysis",
        "42.5",
        "blended",
        (("Clean tabular data", "DS-1"), ("Visualise data", "DS-2")),
        accredited=True,
    ),
    Course(2, UNIVERSITY, "Statistics Refresher", "12", "online", (("Statistics", "DS-3"),)),
    # Recorded before the college's: the portfolio (newest first) still opens with the college.
    Course(6, UNIVERSITY, "Data Ethics", "10", "online", (("Data ethics", "DS-4"),)),
    Course(7, UNIVERSITY, "SQL Basics", "16", "online", (("Query databases", "DS-5"),)),
    Course(
        3, COLLEGE, "CPR and First Aid", "8", "in-person", (("Adult CPR", "FA-1"),), valid_days=20
    ),
    Course(4, COLLEGE, "Workplace Safety", "6", "online", (("Hazard awareness", "WS-1"),)),
    Course(5, UNIVERSITY, "Applied Data Analysis", "42.5", "blended", (), holder=OTHER_HOLDER),
)
PATHWAY = "data-analyst-certificate"
PATHWAY_NAME = "Data Analyst Certificate"
PATHWAY_COURSES = (1, 6, 7, 5)
"""Held active by the learner: 1, 6 and 7 (5 is another learner's): "3 of 4"."""
REVOKED = 2
EXPIRING = 3


def signed_credential(course: Course) -> dict[str, Any]:
    """The course's credential, signed by its institution, with a revocation status entry."""
    institution = course.institution
    achievement = Achievement(
        id=f"https://{institution.host}/achievements/{course.n}",
        name=course.name,
        description=f"{course.name}: a short, competency-based course.",
        criteria=Criteria(narrative="Pass the assessment."),
        alignment=[
            Alignment(
                target_name=name,
                target_url=f"https://frameworks.example.org/{code}",
                target_framework="Example Skills Framework",
                target_code=code,
            )
            for name, code in course.competencies
        ],
        learning_hours=course.hours,
        delivery_mode=course.delivery,
        accreditation=[
            Accreditation(
                accreditor=Profile(id="https://quality.example.org", name="Quality Board")
            )
        ]
        if course.accredited
        else [],
    )
    credential = AchievementCredential(
        id=credential_number(course.n),
        name=f"{course.name} micro-credential",
        issuer=Profile(id=institution.did, name=institution.name),
        valid_from=NOW - timedelta(days=30 - course.n),
        valid_until=NOW + timedelta(days=course.valid_days),
        credential_subject=AchievementSubject(id=course.holder, achievement=achievement),
        credential_status=[
            StatusEntry(
                id=f"{institution.status_list_url}#{100 + course.n}",
                status_purpose="revocation",
                status_list_index=str(100 + course.n),
                status_list_credential=institution.status_list_url,
            )
        ],
    )
    return institution.sign(credential.to_document())


class Material:
    """The verifier's fetched material, from memory (as `MaterialFetcher` would have fetched)."""

    def __init__(self) -> None:
        self.lists = {i.status_list_url: i.status_list() for i in (UNIVERSITY, COLLEGE)}

    async def fetch_for(self, credential: Any) -> VerificationMaterial:
        return VerificationMaterial(
            controller_documents={i.did: i.document() for i in (UNIVERSITY, COLLEGE)},
            status_list_credentials=dict(self.lists),
        )


@functools.cache
def events() -> tuple[list[models.CredentialEvent], dict[int, dict[str, Any]]]:
    """The demo's events, signed once per test session (signing takes a while)."""
    credentials = {course.n: signed_credential(course) for course in COURSES}
    found: list[models.CredentialEvent] = []
    for course in COURSES:
        document = credentials[course.n]
        found.append(
            models.CredentialIssued(
                credential_id=document["id"],
                issuer_id=course.institution.did,
                holder_id=course.holder,
                achievement_id=f"https://{course.institution.host}/achievements/{course.n}",
                achievement_name=course.name,
                achievement_type="MicroCredential",
                competencies=tuple(
                    models.Competency(
                        name=name,
                        code=code,
                        url=f"https://frameworks.example.org/{code}",
                        framework="Example Skills Framework",
                    )
                    for name, code in course.competencies
                ),
                valid_from=datetime.fromisoformat(document["validFrom"]),
                valid_until=datetime.fromisoformat(document["validUntil"]),
                credential=document,
            )
        )
    common = {"issuer_id": UNIVERSITY.did, "holder_id": HOLDER}
    found.append(
        models.CredentialRevoked(
            credential_id=credential_number(REVOKED), reason="issued in error", **common
        )
    )
    found.append(
        models.CredentialExpiring(
            credential_id=credential_number(EXPIRING),
            issuer_id=COLLEGE.did,
            holder_id=HOLDER,
            valid_until=datetime.fromisoformat(credentials[EXPIRING]["validUntil"]),
            lead_days=30,
        )
    )
    return found, credentials


@dataclass
class Demo:
    app: FastAPI
    view: InMemoryView
    holders: InMemoryHolderStore
    credentials: dict[int, dict[str, Any]]

    def token(self, holder: str = HOLDER) -> str:
        return MINTER.mint(holder, authenticated_by="did")[0]


async def demo_registry() -> Demo:
    """The registry app over a seeded in-memory view."""
    view, holders = InMemoryView(), InMemoryHolderStore()
    found, credentials = events()
    await CredentialProjection(view).apply(
        [
            ConsumedEvent(
                new_envelope(data, source="urn:demo", time=NOW + timedelta(seconds=n)),
                "credreg.credentials",
                0,
                n,
            )
            for n, data in enumerate(found)
        ]
    )
    settings = RegistrySettings(holder_token_key=TOKEN_KEY.secret_multikey)
    adapters = Adapters(
        documents=view,
        store=view,
        challenges=InMemoryChallenges(),
        holders=holders,
        verification_material=Material(),
    )
    app = build_app(settings, fakes=adapters)
    # The university's pathway, defined once its achievements were issued: 3 of 4 held.
    pathways: ManagePathways = app.state.use_cases[ManagePathways]
    await pathways.define(
        PATHWAY,
        PathwayRequest(
            name=PATHWAY_NAME,
            achievement_ids=[
                f"https://{UNIVERSITY.host}/achievements/{n}" for n in PATHWAY_COURSES
            ],
        ),
        institution=UNIVERSITY.did,
    )
    # Its back-fill (the service's background worker), for the holder's 3 of 4 to show.
    await Backfiller(app.state.use_cases[PathwayTracker], view).run_once()
    return Demo(app, view, holders, credentials)
