"""Fixtures of the deploy/k8s checks: the tools (built once a session) and each overlay rendered."""

from __future__ import annotations

from typing import Any

import pytest

from .tools import OVERLAYS, Tools, build_tools, documents, render


@pytest.fixture(scope="session")
def k8s_tools() -> Tools:
    """kustomize and kubeconform; a failed build fails every test that needs them (no skip)."""
    return build_tools()


@pytest.fixture(scope="session")
def rendered(k8s_tools: Tools) -> dict[str, str]:
    """The YAML of each overlay, as `kustomize build` writes it."""
    return {overlay: render(k8s_tools, overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def resources(rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The resources of each overlay."""
    return {overlay: documents(text) for overlay, text in rendered.items()}
