"""Write the JSON schemas that kubeconform checks deploy/k8s against (deploy/k8s/schemas/).

Kubernetes kinds come from the Kubernetes OpenAPI v2 document (``api/openapi-spec/swagger.json``
of the ``k8s.io/kubernetes`` Go module), each written standalone (every ``$ref`` inlined) and
strict (an object with declared properties takes no other). Custom resources come from the
operators' published CustomResourceDefinition files: each served version's
``openAPIV3Schema``, strict the same way. deploy/k8s/schemas/SOURCES.md names the sources.

    python scripts/vendor-k8s-schemas.py --swagger PATH/swagger.json --crd FILE.yaml ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "schemas"

# The Kubernetes kinds the manifests may use (group, version, kind). Anything else has no
# schema, so kubeconform refuses it: add it here and run the script again.
KUBERNETES_KINDS = [
    ("", "v1", "ConfigMap"),
    ("", "v1", "Namespace"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("batch", "v1", "CronJob"),
    ("batch", "v1", "Job"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
]

# OpenAPI v2 says "string" for these; the API server takes the numbers too.
SPECIAL_DEFINITIONS: dict[str, dict[str, Any]] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "oneOf": [{"type": "string"}, {"type": "integer"}]
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "oneOf": [{"type": "string"}, {"type": "number"}]
    },
}


def strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that lists properties."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if out.get("x-kubernetes-int-or-string") and not any(k in out for k in ("anyOf", "oneOf")):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def inline(schema: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with every ``#/definitions/…`` reference replaced by its definition."""
    if isinstance(schema, list):
        return [inline(item, definitions, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name in SPECIAL_DEFINITIONS:
            return SPECIAL_DEFINITIONS[name]
        if name in seen:  # a recursive type: accept any object below the loop
            return {"type": "object"}
        return inline(definitions[name], definitions, (*seen, name))
    return {key: inline(value, definitions, seen) for key, value in schema.items()}


def pin(schema: dict[str, Any], api_version: str, kind: str) -> None:
    """Make the schema take only this apiVersion and kind, and require both."""
    schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
    schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"


def kubernetes_schemas(swagger: Path, out: Path) -> list[str]:
    """Write one standalone strict schema per kind of ``KUBERNETES_KINDS``."""
    definitions: dict[str, Any] = json.loads(swagger.read_text())["definitions"]
    by_gvk = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for group, version, kind in KUBERNETES_KINDS:
        schema = strict(inline(definitions[by_gvk[(group, version, kind)]], definitions))
        pin(schema, f"{group}/{version}" if group else version, kind)
        suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
        name = f"{kind.lower()}{suffix}.json"
        (out / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        written.append(name)
    return written


def crd_schemas(crd_file: Path, out: Path) -> list[str]:
    """Write one strict schema per served version of the CRD in `crd_file`."""
    written = []
    for crd in yaml.safe_load_all(crd_file.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = strict(version["schema"]["openAPIV3Schema"])
            pin(schema, f"{group}/{version['name']}", kind)
            target = out / group / f"{kind.lower()}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            written.append(f"{group}/{target.name}")
    return written


def main() -> None:
    """Parse the arguments and write the schemas."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swagger", type=Path, help="Kubernetes api/openapi-spec/swagger.json")
    parser.add_argument("--kubernetes-version", default="v1.36.3")
    parser.add_argument("--crd", type=Path, nargs="*", default=[], help="CRD YAML files")
    args = parser.parse_args()
    if args.swagger:
        target = OUT / "kubernetes" / f"{args.kubernetes_version}-standalone-strict"
        for name in kubernetes_schemas(args.swagger, target):
            print(f"kubernetes/{target.name}/{name}")
    for crd_file in args.crd:
        for name in crd_schemas(crd_file, OUT / "crds"):
            print(f"crds/{name}")


if __name__ == "__main__":
    main()
