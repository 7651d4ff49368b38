"""Reading rendered manifests: resources by kind and name, selectors, a Deployment's settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SERVICES = ("issuer", "registry", "revocation", "notifier")
Resources = dict[str, list[dict[str, Any]]]


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return found


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec["containers"]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects `labels`."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, operator = labels.get(expression["key"]), expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return bool(selector)


def config_map_of(resources: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The data of the ConfigMaps a Deployment's container takes its environment from."""
    data: dict[str, str] = {}
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        data |= named(resources, "ConfigMap", ref).get("data", {})
    return data
