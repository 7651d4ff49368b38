"""Employer search, share links and pathways at scale for the registry benchmark: the setup,
then the URLs vegeta replays (`GET /v1/search`, a filtered portfolio, `GET /v1/shared/{secret}`,
`GET /v1/holders/{id}/pathways`, and `PUT /v1/credentials/{id}/searchable` last).

Setup, after the backlog and the convocation are projected: a share of the dataset's
credentials made searchable (most in bulk, `consents.py`; the timed consent PUTs take others),
share links made through the API by their holders, and a few pathways defined through the API
by their institutions (their back-fill waited for).
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from dataset import (
    ACHIEVEMENTS_PER_INSTITUTION,
    INSTITUTIONS,
    Dataset,
    achievement_competencies,
    achievement_type,
    competency,
    delivery_mode,
    holder_id,
    institution_id,
    learning_hours,
)

SEARCH_LIMIT = 20
PATHWAY_ACHIEVEMENTS = (0, 1, 2)
"""Each pathway: three achievements of its institution, "all of" them or "2 of 3"."""
SEARCH_MIX = {"search competency": 5, "search competency+type": 3, "search 3 filters": 2}
"""The realistic mix's share of each kind of employer search (of 10)."""
CONSENT_BODY = {"searchable": True}


def institution_key(k: int) -> str:
    """The API key the benchmark gives institution `k` (`CREDREG_API_KEYS`)."""
    return f"bench-key-uni-{k}"


def api_keys(pathways: int) -> dict[str, str]:
    """`CREDREG_API_KEYS` for the institutions that define pathways."""
    return {institution_key(k): institution_id(k) for k in range(min(pathways, INSTITUTIONS))}


def pathway_plan(count: int) -> list[dict[str, Any]]:
    """The pathways to define: institution k's first three achievements, by turns all of them
    or two of them."""
    return [
        {
            "id": f"bench-pathway-{k}",
            "institution": k,
            "body": {
                "name": f"Certificate {k}",
                "achievement_ids": [
                    f"https://uni-{k}.example/achievements/micro-{a}" for a in PATHWAY_ACHIEVEMENTS
                ],
                **({"required": 2} if k % 2 else {}),
            },
        }
        for k in range(min(count, INSTITUTIONS))
    ]


def setup_samples(
    dataset: Dataset, *, share: float, api_consents: int, pathways: int, size: int, seed: int
) -> dict[str, Any]:
    """What the setup needs from the dataset: the credentials to make searchable ((id, holder);
    the first `api_consents` for the timed PUTs, the rest in bulk), and holders who hold an
    achievement of a pathway (their progress is read)."""
    every = max(1, round(1 / share)) if share > 0 else 0
    searchable: list[tuple[str, str]] = []
    in_pathways = {
        (p["institution"], a) for p in pathway_plan(pathways) for a in PATHWAY_ACHIEVEMENTS
    }
    pathway_holders: list[int] = []
    for index in range(dataset.count):
        pick = every and index % every == every // 2
        if not pick and not in_pathways:
            continue
        c = dataset.credential(index)
        if pick:
            searchable.append((c.credential_id, holder_id(c.holder)))
        if (c.institution, c.achievement) in in_pathways:
            pathway_holders.append(c.holder)
    rng = random.Random(seed)
    rng.shuffle(searchable)
    holders = sorted(set(pathway_holders))
    rng.shuffle(holders)
    return {
        "api_consents": searchable[:api_consents],
        "bulk_consents": searchable[api_consents:],
        "pathway_holders": [holder_id(h) for h in holders[:size]],
    }


# --- HTTP ------------------------------------------------------------------------------------


def send_json(
    url: str, *, method: str, body: Any = None, headers: dict[str, str], timeout: float = 60.0
) -> tuple[int, Any]:
    """A JSON request; (status, parsed answer or None). 0: no answer."""
    data = None if body is None else json.dumps(body).encode()
    sent = {**headers, **({"Content-Type": "application/json"} if data is not None else {})}
    request = urllib.request.Request(url, data=data, headers=sent, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token or key."""
    return {"Authorization": f"Bearer {token}"}


def create_share_links(
    base: str, holders: list[str], token_of: Callable[[str], str], *, threads: int = 8
) -> tuple[list[str], list[str]]:
    """One share link per holder, made by the holder (its first three credentials, 30 days);
    (the links' secrets, problems)."""

    def make(holder: str) -> tuple[str | None, str | None]:
        auth = bearer(token_of(holder))
        url = f"{base}/v1/holders/{quote(holder, safe='')}/credentials?limit=3"
        status, page = send_json(url, method="GET", headers=auth)
        ids = [c["id"] for c in (page or {}).get("credentials", [])]
        if status != 200 or not ids:
            return None, f"portfolio of {holder}: HTTP {status}, {len(ids)} credentials"
        status, made = send_json(
            f"{base}/v1/holders/{quote(holder, safe='')}/share-links",
            method="POST",
            body={"credential_ids": ids, "expires_in_days": 30, "label": "bench"},
            headers=auth,
        )
        if status != 201:
            return None, f"share link of {holder}: HTTP {status}"
        return str(made["secret"]), None

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(make, holders))
    return [s for s, _ in answers if s], [p for _, p in answers if p]


def define_pathways(
    base: str, plan: list[dict[str, Any]], *, stall_seconds: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """PUT each pathway as its institution, then wait until each back-fill is done (a
    definition without one looked for its holders within its PUT); (figures, problems)."""
    figures: list[dict[str, Any]] = []
    problems: list[str] = []
    for pathway in plan:
        auth = bearer(institution_key(pathway["institution"]))
        url = f"{base}/v1/pathways/{pathway['id']}"
        started = time.monotonic()
        status, _ = send_json(url, method="PUT", body=pathway["body"], headers=auth, timeout=900)
        answered = time.monotonic()
        if status != 200:
            problems.append(f"PUT {pathway['id']}: HTTP {status}")
            continue
        seen, last_change = None, answered
        while True:
            status, found = send_json(url, method="GET", headers=auth)
            backfill = (found or {}).get("backfill")
            if status == 200 and (backfill is None or backfill.get("state") == "done"):
                break
            progress = (backfill or {}).get("credentials_seen")
            if progress != seen:
                seen, last_change = progress, time.monotonic()
            elif time.monotonic() - last_change > stall_seconds:
                problems.append(f"{pathway['id']}: back-fill stalled at {backfill}")
                break
            time.sleep(0.5)
        figures.append(
            {
                "pathway": pathway["id"],
                "put_seconds": round(answered - started, 2),
                "put_to_backfill_done_seconds": round(time.monotonic() - started, 1),
                "backfill": (found or {}).get("backfill"),
            }
        )
    return figures, problems


# --- read targets ----------------------------------------------------------------------------


def search_targets(base: str, rng: random.Random, count: int) -> dict[str, list[str]]:
    """Employer searches of three kinds, each from an achievement of the dataset (so that
    something matches): by a competency (its URL or code); by it and the achievement's type;
    by it, the achievement's delivery mode and a minimum of hours at or below its hours."""
    kinds: dict[str, list[str]] = {kind: [] for kind in SEARCH_MIX}
    for _ in range(count):
        k, a = rng.randrange(INSTITUTIONS), rng.randrange(ACHIEVEMENTS_PER_INSTITUTION)
        c = competency(k, rng.choice(achievement_competencies(k, a)))
        wanted = {"competency": rng.choice([c.url, c.code]), "limit": SEARCH_LIMIT}
        typed = {**wanted, "achievement_type": achievement_type(a)}
        hours = rng.choice([h for h in (10, 20, 30, 40, 50) if h <= learning_hours(a)])
        three = {**wanted, "delivery_mode": delivery_mode(a), "min_hours": hours}
        for kind, params in zip(kinds, (wanted, typed, three), strict=True):
            kinds[kind].append(f"{base}/v1/search?{urlencode(params)}")
    mix = [
        url
        for n in range(count)
        for kind, weight in SEARCH_MIX.items()
        for url in kinds[kind][n * weight // 10 : (n + 1) * weight // 10]
    ]
    rng.shuffle(mix)
    return {"search (mix)": mix, **kinds}


def portfolio_filters(holder: int, rng: random.Random) -> dict[str, str | int]:
    """A filtered or sorted portfolio request, by turns of the kinds a holder asks for."""
    home = (holder * 7919) % INSTITUTIONS  # the dataset's home institution of the holder
    return rng.choice(
        [
            {"status": "active", "sort": "newest"},
            {"competency": competency(home, rng.randrange(10)).code},
            {"expires_soon": "true"},
            {"sort": "newest", "limit": 20},
            {"status": "revoked"},
        ]
    )


def holder_number(holder: str) -> int:
    """The learner number of a dataset holder id."""
    return int(holder.rsplit("-", 1)[1])
