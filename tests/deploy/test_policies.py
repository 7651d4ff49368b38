"""Policies over the rendered manifests of every overlay: what kubeconform's schemas cannot say."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credreg_shared.events import topics as contract_topics
from credreg_shared.events.models import EVENT_MODELS

from .manifests import (
    SERVICES,
    Resources,
    config_map_of,
    containers,
    matches,
    named,
    of_kind,
)
from .tools import OVERLAYS, REPO


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, resources: Resources) -> list[dict[str, Any]]:
    """The resources of one overlay."""
    return resources[request.param]


def deployments(overlay: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = of_kind(overlay, "Deployment")
    assert {d["metadata"]["name"] for d in found} == {f"credreg-{s}" for s in SERVICES}
    return found


def test_every_container_runs_non_root_on_a_read_only_root_without_privileges(
    overlay: list[dict[str, Any]],
) -> None:
    for deployment in deployments(overlay):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), name
        for container in containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert not context.get("capabilities", {}).get("add"), name
            assert not context.get("privileged"), name
            assert context.get("runAsNonRoot", True) is True, name
            assert context.get("runAsUser", 1) != 0, name


def test_every_container_has_probes_on_healthz_and_readyz_and_resources(
    overlay: list[dict[str, Any]],
) -> None:
    for deployment in deployments(overlay):
        name = deployment["metadata"]["name"]
        for container in containers(deployment["spec"]["template"]["spec"]):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["httpGet"]["port"] in ports, (name, probe)
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name


def test_every_deployment_spreads_over_zones_and_nodes(overlay: list[dict[str, Any]]) -> None:
    for deployment in deployments(overlay):
        pod = deployment["spec"]["template"]
        spread = pod["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} >= {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for constraint in spread:
            assert matches(constraint["labelSelector"], pod["metadata"]["labels"])


def test_every_deployment_has_a_pdb_that_selects_its_pods_and_allows_a_drain(
    resources: Resources,
) -> None:
    for overlay_name, overlay in resources.items():
        budgets = of_kind(overlay, "PodDisruptionBudget")
        for deployment in deployments(overlay):
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            mine = [b for b in budgets if matches(b["spec"]["selector"], labels)]
            assert len(mine) == 1, (overlay_name, deployment["metadata"]["name"])
            [budget] = mine
            replicas = deployment["spec"]["replicas"]
            if "minAvailable" in budget["spec"]:
                # A PDB that keeps every replica blocks every node drain.
                assert budget["spec"]["minAvailable"] < replicas, overlay_name
            else:
                assert budget["spec"]["maxUnavailable"] >= 1, overlay_name


def test_prod_is_highly_available_and_dev_runs_one_replica_each(resources: Resources) -> None:
    for deployment in deployments(resources["prod"]):
        assert deployment["spec"]["replicas"] >= 3
    for deployment in deployments(resources["dev"]):
        assert deployment["spec"]["replicas"] == 1
    assert named(resources["prod"], "KafkaNodePool", "dual-role")["spec"]["replicas"] >= 3
    assert named(resources["prod"], "MongoDBCommunity", "credreg-mongodb")["spec"]["members"] >= 3


def test_no_image_is_latest_or_untagged(overlay: list[dict[str, Any]]) -> None:
    images = list(_values_of(overlay, "image"))
    assert images, "no image found"
    for image in images:
        name, _, digest = image.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        assert digest or tag, f"{image} has neither a tag nor a digest"
        assert tag != "latest", image


def _values_of(node: Any, key: str) -> Iterator[str]:
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key and isinstance(value, str):
                yield value
            else:
                yield from _values_of(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, key)


def test_http_services_scale_on_cpu_and_consumers_on_lag_one_autoscaler_each(
    overlay: list[dict[str, Any]],
) -> None:
    targets: dict[str, list[str]] = {}
    for hpa in of_kind(overlay, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        targets.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append("hpa")
    for scaled in of_kind(overlay, "ScaledObject"):
        assert "kafka" in [t["type"] for t in scaled["spec"]["triggers"]]
        targets.setdefault(scaled["spec"]["scaleTargetRef"]["name"], []).append("keda")
    # Two autoscalers of one Deployment would fight; KEDA makes its own HPA.
    assert targets == {
        "credreg-issuer": ["hpa"],
        "credreg-registry": ["hpa"],
        "credreg-revocation": ["keda"],
        "credreg-notifier": ["keda"],
    }


def _partitions(overlay: list[dict[str, Any]]) -> dict[str, int]:
    return {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(overlay, "KafkaTopic")}


def test_keda_never_scales_past_the_partitions_it_consumes(overlay: list[dict[str, Any]]) -> None:
    partitions = _partitions(overlay)
    scaled_objects = of_kind(overlay, "ScaledObject")
    assert scaled_objects
    for scaled in scaled_objects:
        deployment = named(overlay, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        settings = config_map_of(overlay, deployment)
        assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "kafka":
                continue
            metadata = trigger["metadata"]
            topic = metadata["topic"]
            assert topic in partitions, f"{topic} is not a declared KafkaTopic"
            assert scaled["spec"]["maxReplicaCount"] <= partitions[topic]
            # The lag KEDA reads is the lag of the group this Deployment consumes as.
            assert metadata["consumerGroup"] == settings["CREDREG_CONSUMER_GROUP"]
            assert metadata["bootstrapServers"] == settings["CREDREG_KAFKA_BOOTSTRAP_SERVERS"]
            assert metadata.get("allowIdleConsumers") != "true"


def _contract_topics() -> set[str]:
    """Every topic of the event contract: the *_TOPIC constants and the event models' topics,
    but the institutions' request-topic prefix, which is a topic per institution."""
    names = {
        value
        for name, value in vars(contract_topics).items()
        if name.endswith("_TOPIC") and isinstance(value, str)
    } | {model.topic for model in EVENT_MODELS.values()}
    names.discard(contract_topics.ISSUANCE_REQUESTS_TOPIC)
    assert contract_topics.CREDENTIALS_TOPIC in names
    return names


def test_every_topic_and_its_dead_letter_topic_is_a_kafka_topic(
    overlay: list[dict[str, Any]],
) -> None:
    declared = _partitions(overlay)
    [namespace] = {
        config_map_of(overlay, d)["CREDREG_TOPIC_NAMESPACE"] for d in deployments(overlay)
    }
    for topic in _contract_topics():
        deployed = f"{namespace}{topic}"
        assert deployed in declared, f"{deployed} is not declared as a KafkaTopic"
        dlq = contract_topics.dlq_topic(deployed)
        assert dlq in declared, f"{dlq} is not declared as a KafkaTopic"
        # ensure_topics gives a topic's DLQ as many partitions as the topic.
        assert declared[dlq] == declared[deployed]
    for topic in of_kind(overlay, "KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "credreg"
        assert "retention.ms" in topic["spec"]["config"]
        assert topic["spec"]["replicas"] >= topic["spec"]["config"]["min.insync.replicas"]


def test_every_topic_an_acl_or_trigger_names_is_declared(overlay: list[dict[str, Any]]) -> None:
    declared = set(_partitions(overlay))
    for user in of_kind(overlay, "KafkaUser"):
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            if resource["type"] != "topic":
                continue
            if resource["patternType"] == "literal":
                assert resource["name"] in declared, (user["metadata"]["name"], resource)
            else:
                assert any(t.startswith(resource["name"]) for t in declared), resource


def _institution_users(overlay: list[dict[str, Any]]) -> list[dict[str, Any]]:
    labelled = "credreg.org/kafka-principal"
    return [
        u
        for u in of_kind(overlay, "KafkaUser")
        if u["metadata"]["labels"][labelled] == "institution"
    ]


def test_an_institution_may_write_only_its_own_request_topic_and_read_the_results(
    overlay: list[dict[str, Any]],
) -> None:
    declared = set(_partitions(overlay))
    institutions = _institution_users(overlay)
    assert institutions, "no institution's KafkaUser"
    for user in institutions:
        slug = user["metadata"]["labels"]["credreg.org/institution"]
        own = contract_topics.issuance_requests_topic(slug)
        assert own in declared and contract_topics.dlq_topic(own) in declared
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        for acl in user["spec"]["authorization"]["acls"]:
            resource, operations = acl["resource"], set(acl["operations"])
            assert acl.get("type", "allow") == "allow"
            if resource["type"] == "group":
                assert operations <= {"Read", "Describe"}
                continue
            assert resource["type"] == "topic" and resource["patternType"] == "literal", acl
            if resource["name"] == own:
                assert operations == {"Write", "Describe"}
            else:
                assert resource["name"] == contract_topics.ISSUANCE_RESULTS_TOPIC, acl
                assert operations == {"Read", "Describe"}


def test_every_service_has_a_kafka_user_reading_only_its_own_groups(
    overlay: list[dict[str, Any]],
) -> None:
    for service in SERVICES:
        user = named(overlay, "KafkaUser", f"credreg-{service}")
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        groups = [
            acl["resource"]["name"]
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == "group"
        ]
        deployment = named(overlay, "Deployment", f"credreg-{service}")
        group = config_map_of(overlay, deployment)["CREDREG_CONSUMER_GROUP"]
        assert groups == [group]


def test_kafka_runs_kraft_with_a_node_pool(overlay: list[dict[str, Any]]) -> None:
    [kafka] = of_kind(overlay, "Kafka")
    pools = of_kind(overlay, "KafkaNodePool")
    assert pools and all(p["metadata"]["labels"]["strimzi.io/cluster"] == "credreg" for p in pools)
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}  # KRaft: no ZooKeeper anywhere
    assert "zookeeper" not in kafka["spec"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_mongodb_is_a_replica_set_with_a_user_per_service_on_its_own_database(
    overlay: list[dict[str, Any]],
) -> None:
    [mongodb] = of_kind(overlay, "MongoDBCommunity")
    assert mongodb["spec"]["type"] == "ReplicaSet"
    users = {u["name"]: u for u in mongodb["spec"]["users"]}
    assert set(users) == set(SERVICES)
    for service, user in users.items():
        deployment = named(overlay, "Deployment", f"credreg-{service}")
        database = config_map_of(overlay, deployment)["CREDREG_MONGODB_DATABASE"]
        assert {role["db"] for role in user["roles"]} == {database}
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        [uri] = [e for e in container["env"] if e["name"] == "CREDREG_MONGODB_URI"]
        assert uri["valueFrom"]["secretKeyRef"]["name"] == user["connectionStringSecretName"]


def _service_labels(overlay: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"].removeprefix("credreg-"): d["spec"]["template"]["metadata"]["labels"]
        for d in deployments(overlay)
    }


def test_network_policies_deny_by_default_and_only_the_notifier_leaves_the_cluster(
    overlay: list[dict[str, Any]],
) -> None:
    policies = of_kind(overlay, "NetworkPolicy")
    # Default deny: every pod's ingress; every service's egress.
    assert any(
        p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"]
        and not p["spec"].get("ingress")
        for p in policies
    )  # fmt: skip
    for service, labels in _service_labels(overlay).items():
        mine = [p for p in policies if matches(p["spec"]["podSelector"], labels)]
        assert any(
            "Egress" in p["spec"]["policyTypes"] and not p["spec"].get("egress") for p in mine
        )
        egress = [rule for p in mine for rule in p["spec"].get("egress", [])]
        outside = [peer for rule in egress for peer in rule.get("to", []) if "ipBlock" in peer]
        if service == "notifier":
            assert outside, "the notifier cannot reach webhook targets"
            for peer in outside:
                assert "10.0.0.0/8" in peer["ipBlock"]["except"]
        else:
            assert outside == [], f"{service} may leave the cluster"
        # Every service reaches Kafka and MongoDB.
        reached = [peer.get("podSelector", {}) for rule in egress for peer in rule.get("to", [])]
        assert {"strimzi.io/cluster": "credreg", "strimzi.io/kind": "Kafka"} in [
            s.get("matchLabels") for s in reached
        ]
        assert {"app": "credreg-mongodb-svc"} in [s.get("matchLabels") for s in reached]


PUBLIC_ROUTES = {
    # path → service: did:web documents and status lists (issuer); verify, the verification
    # lookup and the JSON-LD context (registry).
    "/institutions/": "issuer",
    "/v1/status-lists/": "issuer",
    "/v1/verify": "registry",
    "/v1/credentials/": "registry",
    "/contexts/": "registry",
}


def test_the_public_ingress_routes_only_the_public_routes(overlay: list[dict[str, Any]]) -> None:
    public = named(overlay, "Ingress", "credreg-public")
    [rule] = public["spec"]["rules"]
    routes = {
        p["path"]: p["backend"]["service"]["name"].removeprefix("credreg-")
        for p in rule["http"]["paths"]
    }
    assert routes == PUBLIC_ROUTES
    services = {s["metadata"]["name"]: s for s in of_kind(overlay, "Service")}
    for ingress in of_kind(overlay, "Ingress"):
        assert ingress["spec"]["tls"], ingress["metadata"]["name"]
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                # Never /metrics, /healthz, /docs or the whole service.
                assert path["path"] != "/" and not path["path"].startswith(("/metrics", "/health"))
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports


def _openapi_paths(service: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The routes a service's app declares (built with default settings, never started)."""
    for name in [n for n in os.environ if n.startswith("CREDREG_")]:
        monkeypatch.delenv(name)
    bootstrap = importlib.import_module(f"credreg_{service}.bootstrap")
    settings = importlib.import_module(f"credreg_{service}.settings")
    app = bootstrap.build_app(getattr(settings, f"{service.capitalize()}Settings")())
    return set(app.openapi()["paths"])


@pytest.mark.parametrize("service", SERVICES)
def test_the_probed_and_routed_paths_exist_in_the_service(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _openapi_paths(service, monkeypatch)
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert any(path.startswith("/v1/") for path in paths)  # what credreg-api routes
    for prefix, owner in PUBLIC_ROUTES.items():
        if owner == service:
            assert any(path.startswith(prefix) for path in paths), f"{service}: no {prefix}"


def test_metrics_are_scraped_and_every_alert_is_explained_in_the_runbook(
    overlay: list[dict[str, Any]],
) -> None:
    [monitor] = of_kind(overlay, "ServiceMonitor")
    for labels in _service_labels(overlay).values():
        assert matches(monitor["spec"]["selector"], labels)
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    runbook = (REPO / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    alerts = [
        rule
        for rules in of_kind(overlay, "PrometheusRule")
        for group in rules["spec"]["groups"]
        for rule in group["rules"]
    ]
    names = {rule["alert"] for rule in alerts}
    assert {"CredregConsumerLagHigh", "CredregDeadLettersGrowing", "CredregWebhookDeadLetters",
            "CredregHttp5xxRate"} <= names  # fmt: skip
    for rule in alerts:
        anchor = rule["annotations"]["runbook"].partition("#")[2]
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/operations.md does not explain {rule['alert']}"


def test_metric_names_in_alerts_are_ones_the_services_or_kafka_export() -> None:
    sources = "\n".join(
        p.read_text()
        for folder in ("shared/src", "services")
        for p in (REPO / folder).rglob("*.py")
        if "tests" not in p.parts
    )
    rules = (REPO / "deploy" / "k8s" / "base" / "monitoring.yaml").read_text()
    for metric in set(re.findall(r"\b(credreg_[a-z_]+?|http_requests)_total\b", rules)):
        assert f'"{metric}"' in sources, f"no service exports {metric}"


def test_secrets_are_referenced_never_committed(resources: Resources) -> None:
    for overlay in resources.values():
        assert of_kind(overlay, "Secret") == []
    for path in (REPO / "deploy" / "k8s").rglob("*.yaml"):
        assert "kind: Secret\n" not in Path(path).read_text(), path


def test_everything_lives_in_the_overlays_namespace(overlay: list[dict[str, Any]]) -> None:
    [namespace] = of_kind(overlay, "Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    for resource in overlay:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == name, resource["metadata"]["name"]
