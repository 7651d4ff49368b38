"""One issuer replica's share of a concurrency test, as its own process (run by the tests).

``claim``: claim `count` indices of a small list for credentials `<name>-<n>`, drawing at
random like the issuer; prints the claimed indices as JSON. ``revoke``: revoke indices
`start`..`start+count-1` of a list, 50 at a time; prints how many it sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from datetime import UTC, datetime

from pymongo import AsyncMongoClient

from credreg_issuer.adapters.mongo import MongoStatusLists


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["claim", "revoke"])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--list", required=True)
    parser.add_argument("--name", default="replica")
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(args.uri, tz_aware=True)
    store = MongoStatusLists(client[args.database])
    try:
        if args.mode == "claim":
            claimed: list[int] = []
            while len(claimed) < args.count:
                index = random.randrange(args.length)  # noqa: S311 - a test's draw
                credential = f"{args.name}-{len(claimed)}"
                if index in await store.claim_many(args.list, {index: credential}):
                    claimed.append(index)
            print(json.dumps(claimed))
        else:
            indices = list(range(args.start, args.start + args.count))
            for n in range(0, len(indices), 50):
                await asyncio.gather(
                    *(store.revoke(args.list, i, datetime.now(UTC)) for i in indices[n : n + 50])
                )
            print(json.dumps(len(indices)))
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
