"""Seed `make up` with demo data: the demo institutions (with their signing keys), a wallet
subscription and a few issued credentials, signed.

Running it again re-uses the institutions and the same idempotency keys, so nothing is issued
twice.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_processes import (  # noqa: E402
    DEMO_ADMIN_KEY,
    DEMO_INSTITUTIONS,
    DEMO_WALLET_PORT,
    PORTS,
    RUN_DIR,
    hosted_did,
)

ISSUER = f"http://127.0.0.1:{PORTS['issuer']}"
REGISTRY = f"http://127.0.0.1:{PORTS['registry']}"
NOTIFIER = f"http://127.0.0.1:{PORTS['notifier']}"
WALLET = f"http://127.0.0.1:{DEMO_WALLET_PORT}"
REGISTRAR_KEY = "demo-university-key"
REGISTRAR = {"Authorization": f"Bearer {REGISTRAR_KEY}"}
HOLDER = "did:example:learner-ada"
WALLET_SECRET = "whsec_ZGVtby13YWxsZXQtc2VjcmV0LW5vdC1mb3ItcHJvZHVjdGlvbg=="  # noqa: S105

DEMO_CREDENTIALS: list[dict[str, Any]] = [
    {
        "holder_id": HOLDER,
        "achievement": {
            "name": "Applied Machine Learning Foundations",
            "description": "Supervised learning, model evaluation and responsible deployment.",
            "competencies": [
                {"name": "Train and evaluate supervised models", "code": "ML-101"},
                {"name": "Explain model bias and fairness trade-offs", "code": "ML-102"},
            ],
            "hours": 40,
            "delivery_mode": "online",
        },
    },
    {
        "holder_id": HOLDER,
        "achievement": {
            "name": "CPR and First Aid (2025 guidelines)",
            "competencies": [{"name": "Adult CPR", "code": "FA-CPR"}],
            "hours": 8,
            "delivery_mode": "in-person",
        },
    },
    {
        "holder_id": "did:example:learner-grace",
        "achievement": {
            "name": "Cloud Infrastructure Essentials",
            "competencies": [{"name": "Provision infrastructure as code", "code": "CL-201"}],
            "hours": 30,
            "delivery_mode": "blended",
        },
    },
]


def create_institutions(client: httpx.Client) -> None:
    """Create the demo institutions through the admin API (once): each gets its did:web and a
    signing key sealed under the demo key-encryption key."""
    for slug, name in DEMO_INSTITUTIONS.items():
        response = client.post(
            f"{ISSUER}/v1/institutions",
            json={"slug": slug, "name": name},
            headers={"Authorization": f"Bearer {DEMO_ADMIN_KEY}"},
        )
        if response.status_code not in (201, 409):  # 409: created by an earlier `make up`
            raise SystemExit(f"creating {slug} failed: {response.status_code} {response.text}")


def subscribe_wallet(client: httpx.Client) -> dict[str, Any]:
    """Subscribe the demo wallet to the demo learner's notices (once)."""
    # v2: subscriptions have owners now; an older one (no owner) hears of nothing.
    marker = RUN_DIR / "demo-subscription-v2.json"
    if marker.exists():
        kept: dict[str, Any] = httpx.Response(200, content=marker.read_bytes()).json()
        # The databases may have been wiped since (`infra.py down --wipe`): look it up.
        found = client.get(f"{NOTIFIER}/v1/subscriptions/{kept['id']}", headers=REGISTRAR)
        if found.status_code == 200:
            return kept
    # As the demo university: it hears of the credentials it issues to the learner.
    response = client.post(
        f"{NOTIFIER}/v1/subscriptions",
        json={"holder_id": HOLDER, "url": f"{WALLET}/webhooks", "secret": WALLET_SECRET},
        headers=REGISTRAR,
    )
    response.raise_for_status()
    marker.write_text(response.text)
    return response.json()  # type: ignore[no-any-return]


def issue(client: httpx.Client, number: int, body: dict[str, Any]) -> str:
    """Issue one demo credential with a stable idempotency key; return its id."""
    # The key names the body too: a demo credential changed by a new version of this script is
    # a new credential, not a 409 against the one an older version left in the database.
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    response = client.post(
        f"{ISSUER}/v1/credentials",
        json=body,
        headers={
            "Authorization": f"Bearer {REGISTRAR_KEY}",
            "Idempotency-Key": f"demo-seed-{number}-{version}",
        },
    )
    if response.status_code >= 400:
        raise SystemExit(f"issuing demo credential failed: {response.status_code} {response.text}")
    return str(response.json()["id"])


def wait_visible(client: httpx.Client, credential_id: str, timeout: float = 30) -> None:
    """Wait until the registry's view shows the credential."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Read as its issuer: a credential is its holder's and its issuer's only.
        shown = client.get(f"{REGISTRY}/v1/credentials/{credential_id}", headers=REGISTRAR)
        if shown.status_code == 200:
            return
        time.sleep(0.3)
    raise SystemExit(f"credential {credential_id} did not reach the registry in {timeout:.0f}s")


def main() -> None:
    """Seed and print what to try next."""
    with httpx.Client(timeout=10) as client:
        create_institutions(client)
        subscription = subscribe_wallet(client)
        ids = [issue(client, n, body) for n, body in enumerate(DEMO_CREDENTIALS)]
        for credential_id in ids:
            wait_visible(client, credential_id)
    print("\ncredreg is up with demo data:")
    print(f"  issuer      {ISSUER}/docs      (API key: {REGISTRAR_KEY})")
    print(f"  institution {hosted_did('demo-university')}")
    print(f"              {ISSUER}/institutions/demo-university/did.json")
    print(f"  registry    {REGISTRY}/docs")
    print(f"  revocation  http://127.0.0.1:{PORTS['revocation']}/docs")
    print(f"  notifier    {NOTIFIER}/docs   (demo subscription {subscription.get('id')})")
    print(f"  wallet      {WALLET}/notices   (verified webhooks received)")
    print(
        f"\n  {HOLDER}'s credentials (with 'Authorization: Bearer {REGISTRAR_KEY}', or a holder"
        f" token): {REGISTRY}/v1/holders/{HOLDER}/credentials"
    )
    for credential_id in ids:
        print(f"  {REGISTRY}/v1/credentials/{credential_id}")
    print(
        "\nSee README.md for the curl walk-through (issue, revoke, watch the wallet). "
        "`make down` stops everything."
    )


if __name__ == "__main__":
    main()
