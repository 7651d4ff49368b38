"""A registrar's system asking credreg for a credential over Kafka (what the README shows).

python docs/samples/registrar_producer.py localhost:9092 demo-university did:web:…
"""

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer


async def request_credential(host: str, topic: str, request: dict) -> None:
    """Send one issuance request (a CloudEvent in Kafka binary mode) and await the broker's ack."""
    request_id = request["request_id"].encode()  # record key = request id = idempotency key
    headers = [
        ("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"urn:registrar:sis"), ("ce_type", b"org.credreg.issuance.requested.v1"),
        ("ce_time", datetime.now(UTC).isoformat().encode()), ("ce_subject", request_id),
        ("content-type", b"application/json"),
    ]  # fmt: skip
    async with AIOKafkaProducer(bootstrap_servers=host, acks="all") as producer:
        value = json.dumps(request).encode()
        await producer.send_and_wait(topic, value, key=request_id, headers=headers)


if __name__ == "__main__":
    bootstrap, slug, institution = sys.argv[1:4]
    example = {
        "request_id": f"sis-{uuid.uuid4()}",
        "institution_id": institution,
        "credential": {
            "holder_id": "student-4711@uni.example",
            "achievement": {"name": "First Aid", "competencies": [{"name": "CPR"}]},
        },
    }
    asyncio.run(request_credential(bootstrap, f"credreg.issuance-requests.{slug}", example))
    print(f"sent {example['request_id']}; the answer comes on credreg.issuance-results")
