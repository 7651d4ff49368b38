"""Who may talk to Kafka, as what, and what each principal may do, over the rendered manifests.

Every service connects as its own KafkaUser (SASL_SSL, SCRAM-SHA-512, its password from the
KafkaUser's Secret, the cluster CA mounted read-only); no listener admits an unauthenticated
client and nobody is a super user; each KafkaUser's ACLs are exactly what its service does; KEDA
reads consumer lag as a KafkaUser of its own that may only Describe.
"""

from __future__ import annotations

from typing import Any

import pytest

from credreg_registry.layout import generation_group
from credreg_shared.events import topics as contract

from .manifests import SERVICES, Resources, config_map_of, named, of_kind
from .tools import OVERLAYS

pytestmark = pytest.mark.timeout(120)

CLUSTER = "credreg"
CLUSTER_CA_SECRET = f"{CLUSTER}-cluster-ca-cert"


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, resources: Resources) -> list[dict[str, Any]]:
    """The resources of one overlay."""
    return resources[request.param]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _secret_ref(container: dict[str, Any], name: str) -> dict[str, Any]:
    [variable] = [v for v in container.get("env", []) if v["name"] == name]
    ref: dict[str, Any] = variable["valueFrom"]["secretKeyRef"]
    return ref


def _port(bootstrap: str) -> int:
    return int(bootstrap.rpartition(":")[2])


def _sasl_listener_ports(kafka: dict[str, Any]) -> set[int]:
    return {
        listener["port"]
        for listener in kafka["spec"]["kafka"]["listeners"]
        if listener["type"] == "internal"
        and listener["tls"] is True
        and listener.get("authentication", {}).get("type") == "scram-sha-512"
    }


def test_no_listener_admits_an_unauthenticated_client_and_nobody_is_anonymous(
    overlay: list[dict[str, Any]],
) -> None:
    [kafka] = of_kind(overlay, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener.get("authentication", {}).get("type"), listener["name"]
        assert listener["tls"] is True, listener["name"]
    authorization = kafka["spec"]["kafka"]["authorization"]
    assert authorization["type"] == "simple"
    assert "ANONYMOUS" not in authorization.get("superUsers", [])
    assert authorization.get("superUsers", []) == []  # Strimzi's own components only


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_connects_as_its_own_kafka_user_over_tls_and_scram(
    overlay: list[dict[str, Any]], service: str
) -> None:
    [kafka] = of_kind(overlay, "Kafka")
    deployment = named(overlay, "Deployment", f"credreg-{service}")
    settings = config_map_of(overlay, deployment)
    container = _container(deployment)
    pod = deployment["spec"]["template"]["spec"]

    assert settings["CREDREG_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["CREDREG_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    user_name = settings["CREDREG_KAFKA_SASL_USERNAME"]
    assert user_name == f"credreg-{service}"
    user = named(overlay, "KafkaUser", user_name)
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert user["metadata"]["labels"]["credreg.org/kafka-principal"] == "service"

    # The bootstrap service of the cluster, on a TLS + SCRAM listener.
    host = settings["CREDREG_KAFKA_BOOTSTRAP_SERVERS"].partition(":")[0]
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap"
    assert _port(settings["CREDREG_KAFKA_BOOTSTRAP_SERVERS"]) in _sasl_listener_ports(kafka)

    # The password: the key Strimzi writes to the Secret named after the user.
    password = _secret_ref(container, "CREDREG_KAFKA_SASL_PASSWORD")
    assert password == {"name": user_name, "key": "password"}
    assert "CREDREG_KAFKA_SASL_PASSWORD" not in settings

    # The CA file: the cluster CA Secret's ca.crt, mounted read-only.
    cafile = settings["CREDREG_KAFKA_SSL_CAFILE"]
    mounts = [
        m for m in container["volumeMounts"] if cafile.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert len(mounts) == 1, cafile
    [mount] = mounts
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == CLUSTER_CA_SECRET
    relative = cafile.removeprefix(mount["mountPath"].rstrip("/") + "/")
    assert {"key": "ca.crt", "path": relative} in volume["secret"]["items"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_services_network_policy_lets_them_reach_that_listener(
    overlay: list[dict[str, Any]], service: str
) -> None:
    deployment = named(overlay, "Deployment", f"credreg-{service}")
    port = _port(config_map_of(overlay, deployment)["CREDREG_KAFKA_BOOTSTRAP_SERVERS"])
    component = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    reachable = set()
    for policy in of_kind(overlay, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        values = {e["key"]: e["values"] for e in selector.get("matchExpressions", [])}
        if component not in values.get("app.kubernetes.io/component", []):
            continue
        for rule in policy["spec"].get("egress", []):
            to_kafka = any(
                peer.get("podSelector", {}).get("matchLabels", {}).get("strimzi.io/kind") == "Kafka"
                for peer in rule.get("to", [])
            )
            if to_kafka:
                reachable |= {p["port"] for p in rule.get("ports", [])}
    assert port in reachable


def test_topics_the_services_create_get_as_many_replicas_as_writes_need(
    resources: Resources,
) -> None:
    for overlay_name, overlay in resources.items():
        [kafka] = of_kind(overlay, "Kafka")
        brokers = sum(p["spec"]["replicas"] for p in of_kind(overlay, "KafkaNodePool"))
        min_insync = kafka["spec"]["kafka"]["config"]["min.insync.replicas"]
        for service in SERVICES:
            deployment = named(overlay, "Deployment", f"credreg-{service}")
            factor = int(config_map_of(overlay, deployment)["CREDREG_TOPIC_REPLICATION_FACTOR"])
            # acks=all producers cannot write to a topic with fewer replicas than this.
            assert min_insync <= factor <= brokers, (overlay_name, service, factor)
            assert factor == {"prod": 3, "dev": 1}[overlay_name]


# --- each KafkaUser may do exactly what its service does ----------------------------------

STARTUP_CHECKED = (contract.CREDENTIALS_TOPIC, contract.INSTITUTIONS_TOPIC)
"""Topics every service's start-up `ensure_topics` lists (Describe), with their DLQs."""

WHAT_EACH_SERVICE_DOES: dict[str, dict[str, tuple[str, ...]]] = {
    # credential.issued, API-key events, issuance results; revocations flip status bits.
    "issuer": {
        "produces": (
            contract.CREDENTIALS_TOPIC,
            contract.INSTITUTIONS_TOPIC,
            contract.ISSUANCE_RESULTS_TOPIC,
        ),
        # Revocations (status bits); completed pathways (stacked credentials).
        "consumes": (contract.CREDENTIALS_TOPIC, contract.PATHWAYS_TOPIC),
        # Made sure of at start-up, with their DLQs.
        "checks": (contract.ISSUANCE_RESULTS_TOPIC, contract.PATHWAYS_TOPIC),
    },
    # pathway.defined and pathway.completed.
    "registry": {
        "produces": (contract.PATHWAYS_TOPIC,),
        "consumes": (contract.CREDENTIALS_TOPIC, contract.INSTITUTIONS_TOPIC),
        "checks": (contract.PATHWAYS_TOPIC,),
    },
    # Lifecycle changes (revoked, suspended, expired…) on the credentials topic.
    "revocation": {
        "produces": (contract.CREDENTIALS_TOPIC,),
        "consumes": (contract.CREDENTIALS_TOPIC, contract.INSTITUTIONS_TOPIC),
        "checks": (),
    },
    "notifier": {
        "produces": (),
        "consumes": (contract.CREDENTIALS_TOPIC, contract.INSTITUTIONS_TOPIC),
        "checks": (),
    },
}
# The issuer consumes every institution's request topic (a pattern), dead-letters to their DLQs
# and may create both for an institution whose KafkaTopic is not declared yet.
ISSUER_REQUESTS = (f"{contract.ISSUANCE_REQUESTS_TOPIC}.", {"Read", "Write", "Describe", "Create"})


def _needed_acls(service: str, group: str) -> dict[tuple[str, str, str], set[str]]:
    does = WHAT_EACH_SERVICE_DOES[service]
    needed: dict[tuple[str, str, str], set[str]] = {}

    def allow(name: str, *operations: str, kind: str = "topic", pattern: str = "literal") -> None:
        needed.setdefault((kind, name, pattern), set()).update(operations)

    for topic in (*STARTUP_CHECKED, *does["checks"]):
        allow(topic, "Describe")
        allow(contract.dlq_topic(topic), "Describe")
    for topic in does["produces"]:
        allow(topic, "Write", "Describe")
    for topic in does["consumes"]:
        allow(topic, "Read", "Describe")
        allow(contract.dlq_topic(topic), "Write", "Describe")  # its dead letters
    # Its own group and the groups named after it (issuer-ingress, registry-institutions, the
    # rebuild's generation groups).
    allow(group, "Read", "Describe", kind="group", pattern="prefix")
    if service == "issuer":
        allow(ISSUER_REQUESTS[0], *ISSUER_REQUESTS[1], pattern="prefix")
    return needed


def _granted(user: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    granted: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow", acl
        resource = acl["resource"]
        key = (resource["type"], resource["name"], resource.get("patternType", "literal"))
        granted.setdefault(key, set()).update(acl["operations"])
    return granted


@pytest.mark.parametrize("service", SERVICES)
def test_each_services_kafka_user_allows_exactly_what_the_service_does(
    overlay: list[dict[str, Any]], service: str
) -> None:
    deployment = named(overlay, "Deployment", f"credreg-{service}")
    settings = config_map_of(overlay, deployment)
    assert settings["CREDREG_TOPIC_NAMESPACE"] == ""  # the ACLs name the plain topics
    group = settings["CREDREG_CONSUMER_GROUP"]
    user = named(overlay, "KafkaUser", settings["CREDREG_KAFKA_SASL_USERNAME"])
    assert _granted(user) == _needed_acls(service, group)


def test_group_prefixes_cover_the_groups_the_services_make(overlay: list[dict[str, Any]]) -> None:
    registry = named(overlay, "Deployment", "credreg-registry")
    group = config_map_of(overlay, registry)["CREDREG_CONSUMER_GROUP"]
    user = named(overlay, "KafkaUser", "credreg-registry")
    [prefix] = [name for kind, name, pattern in _granted(user) if kind == "group"]
    assert generation_group(group, 7, "0a1b2c3d").startswith(prefix)
    assert f"{group}-institutions".startswith(prefix)


def test_only_the_issuer_creates_topics_and_nobody_alters_or_deletes(
    overlay: list[dict[str, Any]],
) -> None:
    for user in of_kind(overlay, "KafkaUser"):
        for (kind, name, _pattern), operations in _granted(user).items():
            assert kind in {"topic", "group"}, (user["metadata"]["name"], kind)  # no cluster ops
            assert not operations & {"All", "Alter", "AlterConfigs", "Delete"}, name
            if "Create" in operations:
                assert user["metadata"]["name"] == "credreg-issuer"
                assert name == ISSUER_REQUESTS[0]


# --- KEDA ---------------------------------------------------------------------------------


def test_keda_reads_consumer_lag_as_a_kafka_user_that_may_only_describe(
    overlay: list[dict[str, Any]],
) -> None:
    [kafka] = of_kind(overlay, "Kafka")
    watched_topics, watched_groups, users = set(), set(), set()
    for scaled in of_kind(overlay, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            metadata = trigger["metadata"]
            assert metadata["sasl"] == "scram_sha512" and metadata["tls"] == "enable"
            assert _port(metadata["bootstrapServers"]) in _sasl_listener_ports(kafka)
            watched_topics.add(metadata["topic"])
            watched_groups.add(metadata["consumerGroup"])
            auth = named(overlay, "TriggerAuthentication", trigger["authenticationRef"]["name"])
            spec = auth["spec"]
            [username] = [r for r in spec["configMapTargetRef"] if r["parameter"] == "username"]
            user_name = named(overlay, "ConfigMap", username["name"])["data"][username["key"]]
            secrets = {r["parameter"]: (r["name"], r["key"]) for r in spec["secretTargetRef"]}
            assert secrets == {
                "password": (user_name, "password"),
                "ca": (CLUSTER_CA_SECRET, "ca.crt"),
            }
            users.add(user_name)
    assert watched_topics and users == {"credreg-keda"}
    user = named(overlay, "KafkaUser", "credreg-keda")
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert _granted(user) == {
        **{("topic", t, "literal"): {"Describe"} for t in watched_topics},
        **{("group", g, "literal"): {"Describe"} for g in watched_groups},
    }
