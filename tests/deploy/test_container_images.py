"""deploy/docker/Dockerfile and compose.yaml, checked statically (no container engine here): a
target per service whose entry point is the service's command, non-root, no shell at run time,
pinned images, and a compose file whose settings are ones the services read."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .manifests import SERVICES
from .test_settings import environment_names, settings_class
from .tools import K8S, REPO

DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / "deploy" / "docker" / "Dockerfile.dockerignore"
COMPOSE = REPO / "compose.yaml"


@dataclass
class Stage:
    """One stage of the Dockerfile: its base and its instructions."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for word, arguments in self.instructions if word == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """The global ARG defaults and the stages by name (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, arguments = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            base, _, name = arguments.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.strip())
            current = Stage(name.strip() or f"stage-{len(stages)}", base)
            stages[current.name] = current
        elif word == "ARG" and current is None:
            name, _, default = arguments.partition("=")
            args[name] = default
        else:
            assert current is not None, f"{word} before any FROM"
            current.instructions.append((word, arguments))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, down to an image."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    return bool(digest) or (bool(tag) and tag != "latest")


def test_every_base_image_is_pinned(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    images = {stage.base for stage in stages.values() if stage.base not in stages}
    assert images
    for image in images:
        assert pinned(image), image
    for stage in stages.values():
        for copied in stage.all("COPY"):
            source = re.search(r"--from=(\S+)", copied)
            if source and source.group(1) not in stages:
                assert pinned(source.group(1)), copied


def _scripts(service: str) -> dict[str, str]:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    scripts: dict[str, str] = project["project"]["scripts"]
    return scripts


@pytest.mark.parametrize("service", [*SERVICES, "cli"])
def test_each_target_runs_its_command_as_non_root_without_a_shell(
    dockerfile: tuple[dict[str, str], dict[str, Stage]], service: str
) -> None:
    args, stages = dockerfile
    chain = lineage(stages, service)
    # The runtime is distroless: no shell, no package manager, nothing RUN in it.
    assert chain[-1].base == args["PYTHON_RUNTIME_IMAGE"] and "distroless" in chain[-1].base
    assert all(not stage.all("RUN") for stage in chain), "a runtime stage RUNs a command"
    users = [user for stage in reversed(chain) for user in stage.all("USER")]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) > 0
    [entrypoint] = [e for stage in chain for e in stage.all("ENTRYPOINT")][:1]
    argv = json.loads(entrypoint)  # exec form: the kernel starts it, no shell involved
    if service == "cli":
        project = tomllib.loads((REPO / "cli" / "pyproject.toml").read_text())
        command = "credreg"
        assert command in project["project"]["scripts"]
    else:
        command = f"credreg-{service}"
        assert _scripts(service)[command] == f"credreg_{service}.__main__:main"
        assert (REPO / "services" / service / "src" / f"credreg_{service}" / "__main__.py").exists()
    assert argv == [f"/app/.venv/bin/{command}"]
    # The venv it runs comes from a build stage that installed this package with uv, locked.
    [copy] = stages[service].all("COPY")
    build = re.search(r"--from=(\S+)", copy)
    assert build is not None
    package = "credreg-cli" if service == "cli" else f"credreg-{service}"
    [sync] = stages[build.group(1)].all("RUN")
    assert (
        sync.startswith("uv sync --frozen --no-dev --no-editable")
        and f"--package {package}" in sync
    )
    assert "ghcr.io/astral-sh/uv" in args["UV_IMAGE"]


def test_the_venv_moves_between_identical_interpreters(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    args, stages = dockerfile
    # Debian 12's python3.11 in the build, the same in the distroless Debian 12 runtime.
    assert args["PYTHON_BUILD_IMAGE"].startswith("debian:12")
    assert "python3-debian12" in args["PYTHON_RUNTIME_IMAGE"]
    [run] = stages["build-base"].all("RUN")
    assert "python3.11" in run
    envs = " ".join(stages["build-base"].all("ENV"))
    assert "UV_PYTHON=/usr/bin/python3.11" in envs and "UV_COMPILE_BYTECODE=1" in envs
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_every_copied_source_exists_and_is_in_the_build_context(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    kept = [
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    ]
    copied = 0
    for stage in stages.values():
        for arguments in stage.all("COPY"):
            if "--from=" in arguments:
                continue
            *sources, _target = arguments.split()
            for source in sources:
                assert (REPO / source).exists(), source
                assert any(
                    fnmatch.fnmatch(source.rstrip("/"), pattern) or source.startswith(pattern + "/")
                    for pattern in kept
                ), f"{source} is left out of the build context by Dockerfile.dockerignore"
                copied += 1
    assert copied > 10


def test_the_kubernetes_images_are_the_dockerfile_targets_and_run_as_its_user(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    targets = {image["name"].removeprefix("credreg/") for image in kustomization["images"]}
    assert targets == set(SERVICES) and targets <= set(stages)
    [user] = stages["runtime"].all("USER")
    for service in SERVICES:
        text = (K8S / "base" / "services" / f"{service}.yaml").read_text()
        deployment = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Deployment")
        context = deployment["spec"]["template"]["spec"]["securityContext"]
        assert f"{context['runAsUser']}:{context['runAsGroup']}" == user
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"credreg/{service}"
        assert str(container["ports"][0]["containerPort"]) in stages[service].all("EXPOSE")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_runs_kafka_in_kraft_mode_and_mongodb_as_a_replica_set(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in json.dumps(compose).lower()
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    mongod = services["mongodb"]["command"]
    replica_set = mongod[mongod.index("--replSet") + 1]
    assert f'_id: "{replica_set}"' in " ".join(services["mongodb-init"]["command"])
    for name in ("kafka", "mongodb", "mongodb-init"):
        assert pinned(services[name]["image"]), name
    for name in SERVICES:
        env = services[name]["environment"]
        advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
        assert env["CREDREG_KAFKA_BOOTSTRAP_SERVERS"] == advertised
        assert f"replicaSet={replica_set}" in env["CREDREG_MONGODB_URI"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_compose_service_is_its_dockerfile_target_with_settings_it_reads(
    compose: dict[str, Any], dockerfile: tuple[dict[str, str], dict[str, Stage]], service: str
) -> None:
    _, stages = dockerfile
    spec = compose["services"][service]
    assert spec["build"]["dockerfile"] == str(DOCKERFILE.relative_to(REPO))
    assert spec["build"]["context"] == "."
    assert spec["build"]["target"] in stages and spec["build"]["target"] == service
    assert pinned(spec["image"])
    assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]
    assert int(spec["user"].split(":")[0]) > 0
    assert "no-new-privileges:true" in spec["security_opt"]
    env = spec["environment"]
    unknown = sorted(set(env) - environment_names(settings_class(service)))
    assert unknown == [], f"{service} does not read {unknown}"
    assert env["CREDREG_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 - the container's own address
    port = env["CREDREG_HTTP_PORT"]
    assert f"{port}:{port}" in spec["ports"] and port in stages[service].all("EXPOSE")
    assert env["CREDREG_MONGODB_DATABASE"] == f"credreg_{service}"
    # No shell in the image: the health check is exec form, and asks /readyz.
    test = spec["healthcheck"]["test"]
    assert test[0] == "CMD" and "/readyz" in test[-1]
    if service == "issuer":  # admin routes on, so the key-encryption key is required
        assert {"CREDREG_ADMIN_API_KEY", "CREDREG_KEY_ENCRYPTION_KEY"} <= set(env)


def test_compose_only_names_files_that_exist(compose: dict[str, Any]) -> None:
    for spec in compose["services"].values():
        build = spec.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file()
    assert Path(DOCKERIGNORE).is_file()
