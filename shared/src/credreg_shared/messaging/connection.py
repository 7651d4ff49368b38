"""The one way credreg's Kafka clients learn where the brokers are and how to authenticate.

Every aiokafka client the product creates (producers, consumers, admin clients, readiness
probes, the CLI's) takes ``**kafka_client_options(settings)``: the bootstrap servers together
with the security protocol, the SASL mechanism and credentials, and the TLS context. A client
given only the bootstrap servers would connect unauthenticated, so nothing outside this module
reads ``kafka_bootstrap_servers`` from the settings (a test checks the sources for it).
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from credreg_shared.settings import SASL_PROTOCOLS, TLS_PROTOCOLS, KafkaSettings


def kafka_client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: bootstrap servers, security protocol and,
    as the protocol needs them, the SASL mechanism and credentials and an SSL context.

    The defaults (PLAINTEXT) give ``bootstrap_servers`` and ``security_protocol`` only, which is
    what aiokafka does without them. Raises ValueError when the CA file cannot be loaded.
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": protocol,
    }
    if protocol in TLS_PROTOCOLS:
        options["ssl_context"] = _ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        password = settings.kafka_sasl_password
        if settings.kafka_sasl_mechanism is None or password is None:  # the validator's job
            raise ValueError(f"{protocol} needs a SASL mechanism, user name and password")
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value()
    return options


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """A client TLS context that verifies the brokers' certificates and host names: against
    CREDREG_KAFKA_SSL_CAFILE if set, else the system's CAs."""
    cafile = settings.kafka_ssl_cafile
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(cafile) if cafile is not None else None
        )
    except (OSError, ssl.SSLError) as error:
        raise ValueError(
            f"CREDREG_KAFKA_SSL_CAFILE={cafile}: cannot load the Kafka CA certificate ({error})"
        ) from error
    return context
