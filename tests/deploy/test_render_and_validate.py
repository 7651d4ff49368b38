"""Every overlay renders with kustomize and is valid against the vendored Kubernetes and CRD
schemas (kubeconform, strict, offline); a broken manifest is refused."""

from __future__ import annotations

import pytest

from .tools import OVERLAYS, Tools, validate


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_is_valid_against_the_kubernetes_and_operator_schemas(
    k8s_tools: Tools, rendered: dict[str, str], overlay: str
) -> None:
    result = validate(k8s_tools, rendered[overlay])
    assert result.problems == [], result.stderr
    assert result.returncode == 0, result.stderr
    kinds = {r["kind"] for r in result.resources}
    # The operators' resources were checked too, not passed over.
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ScaledObject"} <= kinds
    assert {"MongoDBCommunity", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert result.summary["valid"] == len(result.resources) > 0


BROKEN = [
    # (what is broken, text of the rendered prod overlay, what replaces it): one resource invalid
    ("a misspelt field", "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true"),
    ("a string where a number goes", "partitions: 12", "partitions: twelve"),
    ("an unknown ACL operation", "- Write", "- Scribble"),
    ("a kind without a schema", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett"),
]


@pytest.mark.parametrize(("broken", "good", "bad"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_manifest_is_refused(
    k8s_tools: Tools, rendered: dict[str, str], broken: str, good: str, bad: str
) -> None:
    text = rendered["prod"]
    assert good in text, f"the prod overlay no longer has {good!r}: update this case"
    result = validate(k8s_tools, text.replace(good, bad, 1))
    assert result.returncode != 0, broken
    assert len(result.problems) == 1, result.problems
