"""The local FerretDB build's sources: which patches each build applies (deploy/local/infra.py)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from credreg_shared.testing import load_script

INFRA = Path(__file__).resolve().parents[2] / "deploy" / "local" / "infra.py"


@pytest.fixture(scope="module")
def infra() -> ModuleType:
    """The launcher, loaded from its file (it is a script, not a package)."""
    return load_script(INFRA, "credreg_local_infra")


def test_the_cgo_build_keeps_every_fix_of_the_plain_build_and_adds_the_driver(
    infra: ModuleType,
) -> None:
    plain_patches, plain_files = infra.ferretdb_sources(cgo=False)
    patches, files = infra.ferretdb_sources(cgo=True)

    for name, replacements in plain_patches.items():
        assert patches[name][: len(replacements)] == replacements, name
    for name, replacements in infra.FERRETDB_CGO_PATCHES.items():
        assert patches[name][-len(replacements) :] == replacements, name
    assert files == {**plain_files, **infra.FERRETDB_CGO_NEW_FILES}
    # A file patched by both (the `_id` pushdown and the driver's error) keeps both.
    shared = set(plain_patches) & set(infra.FERRETDB_CGO_PATCHES)
    assert shared
    for name in shared:
        assert len(patches[name]) == len(plain_patches[name]) + len(
            infra.FERRETDB_CGO_PATCHES[name]
        )


def test_the_plain_build_does_not_touch_the_sqlite_driver(infra: ModuleType) -> None:
    patches, files = infra.ferretdb_sources(cgo=False)

    assert patches is infra.FERRETDB_PATCHES
    assert "mattn" not in repr((patches, files))
    assert "mattn" in repr(infra.ferretdb_sources(cgo=True))


def test_a_c_compiler_named_in_cc_is_the_one_cgo_gets(
    infra: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "/opt/some/cc")
    assert infra.c_compiler() == "/opt/some/cc"
    monkeypatch.delenv("CC")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert infra.c_compiler() is None
