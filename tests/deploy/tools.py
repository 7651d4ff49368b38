"""kustomize and kubeconform, built from the Go module proxy, and what they say about deploy/k8s.

The versions are pinned by ``deploy/k8s/tools/go.mod`` and ``go.sum``; the binaries are cached
under ``~/.cache/credreg/bin`` (``CREDREG_CACHE_DIR``) by the digest of those two files, and Go's
own caches (``~/go/pkg/mod``, ``~/.cache/go-build``) make a rebuild after a change fast. Without
Go, or when the build fails, `build_tools` raises: the validation never passes by being skipped.

    python tests/deploy/tools.py render prod      # the rendered YAML of an overlay
    python tests/deploy/tools.py validate         # render and validate every overlay
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
TOOLS_MODULE = K8S / "tools"
SCHEMAS = K8S / "schemas"
KUBERNETES_VERSION = "v1.36.3"
OVERLAYS = ("dev", "prod")
PACKAGES = {
    "kustomize": "sigs.k8s.io/kustomize/kustomize/v5",
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform",
}
SCHEMA_LOCATIONS = (
    f"{SCHEMAS}/kubernetes/{KUBERNETES_VERSION}-standalone-strict/"
    "{{ .ResourceKind }}{{ .KindSuffix }}.json",
    f"{SCHEMAS}/crds/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
)
BUILD_TIMEOUT = 900


class ToolBuildError(RuntimeError):
    """kustomize or kubeconform could not be built here."""


@dataclass(frozen=True)
class Tools:
    """Paths of the built binaries."""

    kustomize: Path
    kubeconform: Path


def _cache_dir() -> Path:
    return Path(os.environ.get("CREDREG_CACHE_DIR", Path.home() / ".cache" / "credreg")) / "bin"


def build_tools() -> Tools:
    """Build (once per go.mod/go.sum digest) and return kustomize and kubeconform."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((TOOLS_MODULE / name).read_bytes())
    folder = _cache_dir() / f"k8s-tools-{digest.hexdigest()[:12]}"
    tools = Tools(folder / "kustomize", folder / "kubeconform")
    if tools.kustomize.exists() and tools.kubeconform.exists():
        return tools
    go = shutil.which("go")
    if go is None:
        raise ToolBuildError(
            "Go is needed to build kustomize and kubeconform (deploy/k8s/tools): install Go 1.24+"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="k8s-tools-", dir=folder.parent))
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        # This machine's Go: never a toolchain download (the module needs Go 1.24).
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
    }
    try:
        built = subprocess.run(
            [go, "build", "-trimpath", "-o", f"{staging}/", *PACKAGES.values()],
            cwd=TOOLS_MODULE,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if built.returncode != 0:
            raise ToolBuildError(f"go build of the k8s tools failed:\n{built.stderr[-4000:]}")
        try:
            staging.rename(folder)
        except OSError:
            if not folder.exists():  # another session's build won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tools


def render(tools: Tools, overlay: str) -> str:
    """`kustomize build` of deploy/k8s/overlays/<overlay> (or any folder under deploy/k8s)."""
    folder = K8S / "overlays" / overlay if overlay in OVERLAYS else Path(overlay)
    done = subprocess.run(
        [str(tools.kustomize), "build", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kustomize build {folder} failed:\n{done.stderr}")
    return done.stdout


def documents(rendered: str) -> list[dict[str, Any]]:
    """The resources of a rendered overlay."""
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@dataclass(frozen=True)
class Validation:
    """What kubeconform said about a stream of manifests."""

    returncode: int
    resources: list[dict[str, Any]]
    summary: dict[str, int]
    stderr: str

    @property
    def problems(self) -> list[str]:
        """One line per invalid resource, or resource that could not be checked."""
        return [
            f"{r.get('kind')} {r.get('name')}: {r.get('status')}: {r.get('msg')}"
            for r in self.resources
            if r.get("status") != "statusValid"
        ]


def validate(tools: Tools, rendered: str) -> Validation:
    """kubeconform over `rendered`: strict, offline, against the vendored schemas only. A kind
    without a schema is an error, never a skip."""
    argv = [str(tools.kubeconform), "-strict", "-summary", "-verbose", "-output", "json"]
    for location in SCHEMA_LOCATIONS:
        argv += ["-schema-location", location]
    done = subprocess.run(
        [*argv, "-"], input=rendered, capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(done.stdout or "{}")
    return Validation(
        done.returncode, report.get("resources", []), report.get("summary", {}), done.stderr
    )


def main() -> None:
    """`render OVERLAY` or `validate`: the command line of this module."""
    tools = build_tools()
    if sys.argv[1:2] == ["render"] and len(sys.argv) == 3:
        sys.stdout.write(render(tools, sys.argv[2]))
        return
    if sys.argv[1:] == ["validate"]:
        failed = False
        for overlay in OVERLAYS:
            result = validate(tools, render(tools, overlay))
            print(overlay, json.dumps(result.summary), *result.problems, sep="\n  ")
            failed = failed or result.returncode != 0
        sys.exit(1 if failed else 0)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
