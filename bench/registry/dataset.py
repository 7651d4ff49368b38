"""A deterministic credential dataset for the registry benchmark, as `credential.issued` records.

Shape (for N credentials): about 0.3·N holders ``did:example:learner-<n>`` holding 1 to ~40
credentials each (geometric, mean ~3.3); 20 institutions ``did:web:uni-<k>.example``, each with 8
achievements built from its pool of 10 competencies (url ``https://esco.example/skill/<k>-<j>``,
code ``U<k>-C<j>``), five per achievement; ~2 % of credentials revoked a little later in the
stream. What employer search filters on varies by achievement `a` (0–7): its type
(`ACHIEVEMENT_TYPES[a % 4]`), delivery mode (`DELIVERY_MODES[a % 3]`), 20 + 5·a learning hours,
an accreditation when `a` is even, an industry partner when `a % 3 == 0`. Every credential's
id, institution, achievement, dates and revocation are a function of (seed, index), so any of
them can be recomputed without keeping 1M ids in memory.

Each record is a real `CredentialIssued` event in the issuer's wire form (`to_record` of a
`new_envelope`): the data model builds and validates one template per achievement, whose
credential document is signed once with Ed25519; per credential only ids, dates and the status
index are substituted into the template's JSON. So the proofs are copied, not valid for the
substituted content: the registry does not verify proofs when it projects or answers reads.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from credreg_shared.credentials.data_integrity import add_proof
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.credentials.model import (
    Accreditation,
    Achievement,
    AchievementCredential,
    AchievementSubject,
    Alignment,
    AssessmentMethod,
    Criteria,
    DeliveryMode,
    Pathway,
    Profile,
)
from credreg_shared.credentials.status_list import status_list_entry
from credreg_shared.events.cloudevents import (
    derived_event_id,
    format_time,
    from_record,
    new_envelope,
    to_record,
)
from credreg_shared.events.models import Competency, CredentialIssued, CredentialRevoked

INSTITUTIONS = 20
ACHIEVEMENTS_PER_INSTITUTION = 8
COMPETENCIES_PER_INSTITUTION = 10
COMPETENCIES_PER_CREDENTIAL = 5
HOLDERS_PER_CREDENTIAL = 0.3
MAX_CREDENTIALS_PER_HOLDER = 60
REVOKED_ONE_IN = 50  # 2 %
HOME_INSTITUTION_SHARE = 0.8
REVOKE_DELAY_MAX = 2000  # a revocation follows its credential's issued event by up to this many
ACHIEVEMENT_TYPES = ("MicroCredential", "Certificate", "Badge", "Course")
DELIVERY_MODES: tuple[DeliveryMode, ...] = ("online", "blended", "in-person")
ACCREDITOR = Profile(id="did:web:agency.example", name="Example Quality Agency")

# Sentinels substituted in each template's JSON text (valid values, so the models accept them).
CID_SENTINEL = "f0f0f0f0-e1e1-4d2d-8c3c-b4b4b4b4b4b4"
HOLDER_SENTINEL = "did:example:learner-987654320123"
VALID_FROM_SENTINEL = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
VALID_UNTIL_SENTINEL = datetime(2041, 2, 3, 4, 5, 6, tzinfo=UTC)
STATUS_INDEX_SENTINEL = 987654321
EPOCH = datetime(2021, 1, 1, tzinfo=UTC)
SPREAD_SECONDS = int((datetime(2026, 6, 30, tzinfo=UTC) - EPOCH).total_seconds())
VALIDITY = timedelta(days=3 * 365)


def institution_id(k: int) -> str:
    """The issuer id of institution `k`."""
    return f"did:web:uni-{k}.example"


def holder_id(n: int) -> str:
    """The holder id of learner `n`."""
    return f"did:example:learner-{n}"


def competency(k: int, j: int) -> Competency:
    """Competency `j` of institution `k`'s pool (as the issuer publishes it: name, url, code)."""
    return Competency(
        name=f"Skill {j} of University {k}",
        url=f"https://esco.example/skill/{k}-{j}",
        code=f"U{k}-C{j}",
    )


def achievement_competencies(k: int, a: int) -> list[int]:
    """The pool indexes of the five competencies achievement `a` of institution `k` certifies."""
    return random.Random(f"{k}/{a}").sample(
        range(COMPETENCIES_PER_INSTITUTION), COMPETENCIES_PER_CREDENTIAL
    )


@dataclass(frozen=True)
class Template:
    """One achievement's issued event as JSON text split at the sentinels."""

    parts: tuple[str, ...]  # literal, token, literal, token, ..., literal
    source: str
    issuer: str
    achievement_index: int

    def render(self, values: dict[str, str]) -> bytes:
        """The record value with every sentinel replaced."""
        return "".join(values[p] if i % 2 else p for i, p in enumerate(self.parts)).encode()


@dataclass(frozen=True)
class Event:
    """One Kafka record to produce."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def achievement_type(a: int) -> str:
    """The type of achievement `a` (of any institution)."""
    return ACHIEVEMENT_TYPES[a % len(ACHIEVEMENT_TYPES)]


def delivery_mode(a: int) -> DeliveryMode:
    """How achievement `a` (of any institution) is delivered."""
    return DELIVERY_MODES[a % len(DELIVERY_MODES)]


def learning_hours(a: int) -> int:
    """The learning hours of achievement `a` (of any institution)."""
    return 20 + 5 * a


def _issued_data(k: int, a: int, *, with_until: bool, key_pair: Ed25519KeyPair) -> CredentialIssued:
    issuer = institution_id(k)
    pool = [competency(k, j) for j in achievement_competencies(k, a)]
    achievement = Achievement(
        id=f"https://uni-{k}.example/achievements/micro-{a}",
        achievement_type=achievement_type(a),
        name=f"Micro-credential {a} of University {k}",
        description=(
            "Plans, carries out and documents a small applied project in the field, "
            "working to professional standards and reflecting on the result."
        ),
        criteria=Criteria(narrative="Pass the practical assessment and the proctored exam."),
        alignment=[
            Alignment(
                target_name=c.name,
                target_url=c.url,
                target_framework="ESCO (example)",
                target_code=c.code,
            )
            for c in pool
        ],
        learning_hours=str(learning_hours(a)),
        delivery_mode=delivery_mode(a),
        assessment=AssessmentMethod(assessment_type="project", description="Capstone project."),
        accreditation=(
            [
                Accreditation(
                    id=f"https://agency.example/accreditations/uni-{k}", accreditor=ACCREDITOR
                )
            ]
            if a % 2 == 0
            else []
        ),
        industry_partner=(
            [Profile(id=f"https://employer-{a}.example", name=f"Employer {a}")]
            if a % 3 == 0
            else []
        ),
        stacks_into=[Pathway(id=f"https://uni-{k}.example/pathways/p{a % 3}", name="Certificate")],
    )
    credential_id = f"urn:uuid:{CID_SENTINEL}"
    document = AchievementCredential(
        id=credential_id,
        name=achievement.name,
        description=achievement.description,
        issuer=Profile(id=issuer, name=f"University {k}"),
        valid_from=VALID_FROM_SENTINEL,
        valid_until=VALID_UNTIL_SENTINEL if with_until else None,
        credential_subject=AchievementSubject(id=HOLDER_SENTINEL, achievement=achievement),
        credential_status=[
            status_list_entry(
                status_list_credential=f"https://uni-{k}.example/status/revocation/1",
                index=STATUS_INDEX_SENTINEL,
                purpose="revocation",
            )
        ],
    ).to_document()
    signed = add_proof(
        document,
        key_pair=key_pair,
        verification_method=f"{issuer}#key-1",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return CredentialIssued(
        credential_id=credential_id,
        issuer_id=issuer,
        holder_id=HOLDER_SENTINEL,
        achievement_id=achievement.id,
        achievement_name=achievement.name,
        achievement_type=achievement.achievement_type,
        competencies=tuple(pool),
        valid_from=VALID_FROM_SENTINEL,
        valid_until=VALID_UNTIL_SENTINEL if with_until else None,
        credential=signed,
    )


SENTINELS = {
    CID_SENTINEL: "cid",
    HOLDER_SENTINEL: "holder",
    format_time(VALID_FROM_SENTINEL): "from",
    format_time(VALID_UNTIL_SENTINEL): "until",
    str(STATUS_INDEX_SENTINEL): "index",
}
_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SENTINELS) + ")")


def build_template(k: int, a: int, *, with_until: bool) -> Template:
    """Build, validate, sign and split the template of achievement `a` of institution `k`."""
    key_pair = Ed25519KeyPair.from_seed(hashlib.sha256(f"uni-{k}".encode()).digest())
    data = _issued_data(k, a, with_until=with_until, key_pair=key_pair)
    text = to_record(new_envelope(data, source=f"https://uni-{k}.example")).value.decode()
    pieces = _SPLIT.split(text)
    found = {SENTINELS[p] for p in pieces[1::2]}
    expected = {"cid", "holder", "from", "index"} | ({"until"} if with_until else set())
    if found != expected:
        raise RuntimeError(f"template sentinels missing: {expected - found}")
    parts = tuple(SENTINELS[p] if i % 2 else p for i, p in enumerate(pieces))
    return Template(parts, f"https://uni-{k}.example", data.issuer_id, a)


@dataclass(frozen=True)
class Credential:
    """What the dataset decides about credential `index`."""

    index: int
    credential_id: str
    holder: int
    institution: int
    achievement: int
    valid_from: datetime
    valid_until: datetime | None
    revoked: bool
    revoke_after: int  # revocation is produced after the issued event of credential index+this


@dataclass
class Dataset:
    """N credentials over about 0.3·N holders, all derived from `seed`."""

    count: int
    seed: int = 1
    holders: int = 0
    holder_of: array = field(default_factory=lambda: array("I"))
    _templates: dict[tuple[int, int, bool], Template] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.holders = max(1, round(self.count * HOLDERS_PER_CREDENTIAL))
        self.holder_of = self._assign_holders()

    def _assign_holders(self) -> array:
        rng = random.Random(self.seed)
        mean_extra = 1 / HOLDERS_PER_CREDENTIAL - 1
        p = 1 / (1 + mean_extra)
        counts = [1] * self.holders
        for h in range(self.holders):
            extra = 0
            while rng.random() > p and extra < MAX_CREDENTIALS_PER_HOLDER - 1:
                extra += 1
            counts[h] += extra
        total = sum(counts)
        while total != self.count:  # trim or pad at random holders to exactly N
            h = rng.randrange(self.holders)
            if total > self.count and counts[h] > 1:
                counts[h] -= 1
                total -= 1
            elif total < self.count and counts[h] < MAX_CREDENTIALS_PER_HOLDER:
                counts[h] += 1
                total += 1
        holder_of = array("I", (h for h, c in enumerate(counts) for _ in range(c)))
        rng.shuffle(holder_of)
        return holder_of

    def credentials_per_holder(self) -> array:
        """How many credentials each holder gets."""
        counts = array("I", bytes(4 * self.holders))
        for h in self.holder_of:
            counts[h] += 1
        return counts

    def credential(self, index: int, holder: int | None = None) -> Credential:
        """Everything about credential `index` (holder from the assignment unless given)."""
        digest = hashlib.blake2b(f"{self.seed}:{index}".encode(), digest_size=24).digest()
        cid = uuid.UUID(bytes=digest[:16], version=4)
        holder = self.holder_of[index] if holder is None else holder
        roll = digest[16]
        home = (holder * 7919) % INSTITUTIONS
        k = home if roll < 256 * HOME_INSTITUTION_SHARE else digest[17] % INSTITUTIONS
        a = digest[18] % ACHIEVEMENTS_PER_INSTITUTION
        seconds = int.from_bytes(digest[19:22]) * SPREAD_SECONDS >> 24
        valid_from = EPOCH + timedelta(seconds=seconds)
        valid_until = valid_from + VALIDITY if digest[22] % 10 < 7 else None
        revoked = digest[23] % REVOKED_ONE_IN == 0
        return Credential(
            index=index,
            credential_id=f"urn:uuid:{cid}",
            holder=holder,
            institution=k,
            achievement=a,
            valid_from=valid_from,
            valid_until=valid_until,
            revoked=revoked,
            revoke_after=1 + (int.from_bytes(digest[19:21]) % REVOKE_DELAY_MAX),
        )

    def template(self, k: int, a: int, with_until: bool) -> Template:
        """The (cached) template of an achievement."""
        key = (k, a, with_until)
        if key not in self._templates:
            self._templates[key] = build_template(k, a, with_until=with_until)
        return self._templates[key]

    def issued_record(self, c: Credential, *, issued_at: datetime | None = None) -> Event:
        """The `credential.issued` record of a credential."""
        template = self.template(c.institution, c.achievement, c.valid_until is not None)
        uuid_text = c.credential_id.removeprefix("urn:uuid:")
        values = {
            "cid": uuid_text,
            "holder": holder_id(c.holder),
            "from": format_time(c.valid_from),
            "until": format_time(c.valid_until) if c.valid_until else "",
            "index": str(c.index),
        }
        time = issued_at or c.valid_from
        return Event(
            key=c.credential_id.encode(),
            value=template.render(values),
            headers=_headers(
                derived_event_id(c.credential_id, "issued"),
                template.source,
                "org.credreg.credential.issued.v1",
                time,
                c.credential_id,
            ),
        )

    def revoked_record(self, c: Credential) -> Event:
        """The `credential.revoked` record of a credential (the model, serialised by to_record)."""
        data = CredentialRevoked(
            credential_id=c.credential_id,
            issuer_id=institution_id(c.institution),
            holder_id=holder_id(c.holder),
            reason="issued in error",
        )
        envelope = new_envelope(
            data,
            source=f"https://uni-{c.institution}.example",
            event_id=derived_event_id(c.credential_id, "revoked"),
            time=c.valid_from + timedelta(days=30),
        )
        record = to_record(envelope)
        return Event(record.key, record.value, record.headers)

    def events(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[Event, bool]]:
        """Every record in produce order: (event, is_issued); revocations follow their issue."""
        stop = self.count if stop is None else stop
        pending: dict[int, list[Credential]] = {}
        for index in range(start, stop):
            c = self.credential(index)
            yield self.issued_record(c), True
            if c.revoked:
                pending.setdefault(min(index + c.revoke_after, stop - 1), []).append(c)
            for due in pending.pop(index, []):
                yield self.revoked_record(due), False
        for rest in pending.values():  # only when start/stop cut a range short
            for due in rest:
                yield self.revoked_record(due), False

    def revoked_count(self) -> int:
        """How many credentials of the dataset are revoked."""
        return sum(1 for i in range(self.count) if self.credential(i).revoked)


def convocation(dataset: Dataset, count: int, *, institution: int = 0) -> Iterator[Event]:
    """`count` new graduates of one institution, one fresh credential each, issued now."""
    now = datetime.now(UTC)
    for n in range(count):
        index = dataset.count + n
        c = dataset.credential(index, holder=dataset.holders + n)
        c = Credential(
            index=index,
            credential_id=c.credential_id,
            holder=c.holder,
            institution=institution,
            achievement=n % 2,  # a convocation hands out few achievements: hot competency keys
            valid_from=now,
            valid_until=now + VALIDITY,
            revoked=False,
            revoke_after=0,
        )
        yield dataset.issued_record(c, issued_at=now)


def check_decodes(event: Event) -> dict[str, Any]:
    """Decode a generated record like a consumer would; raises if it is not a valid event."""
    envelope = from_record(event.key, event.value, event.headers)
    return envelope.data.model_dump()


def _headers(
    event_id: str, source: str, event_type: str, time: datetime, subject: str
) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", format_time(time).encode()),
        ("ce_subject", subject.encode()),
        ("content-type", b"application/json"),
    ]
