"""Wheels for installs that must not ask an index: gitcoord's dependencies, each at the
version this environment has, setuptools to build gitcoord with, pip, and a wheel of
gitcoord built from this checkout.

Tests that install gitcoord the way users do (the pre-commit framework building its hook
environment, a wheel in an empty virtualenv, ``pipx install``) point pip at these with
``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS``, so they pass offline in a virtualenv and with a
system interpreter alike, whatever that interpreter's site-packages hold. The wheels are
fetched once, from the package index this environment was installed from, and built once
per test run (shared by pytest-xdist workers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import filelock
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
# What a build of gitcoord reads: pyproject.toml, the readme and licence it names, the package.
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")


@dataclass(frozen=True)
class Wheels:
    deps: Path  # a find-links directory: gitcoord's dependencies, setuptools, pip
    gitcoord: Path  # gitcoord's wheel, built from this checkout
    source: Path  # a copy of this checkout's package sources (what `pipx install .` reads)

    def offline_env(self) -> dict[str, str]:
        """pip settings for an install from these wheels alone."""
        return {
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.deps),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }


def copy_source(dest: Path) -> Path:
    """The files a build of gitcoord reads, copied (a build writes into its source tree)."""
    dest.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(REPO_ROOT / "gitcoord", dest / "gitcoord", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def runtime_closure() -> list[str]:
    """``name==version`` for every distribution gitcoord needs at run time (its
    dependencies in pyproject.toml, and theirs), at the version installed here."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    pinned: dict[str, str] = {}
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in pinned:
            continue
        dist = metadata.distribution(req.name)
        pinned[name] = f"{name}=={dist.version}"
        for text in dist.requires or ():
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return sorted(pinned.values())


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args], env=full, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, f"pip {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def _build(root: Path) -> Wheels:
    wheels = Wheels(deps=root / "deps", gitcoord=root / "dist", source=copy_source(root / "source"))
    # gitcoord's build requirement (setuptools, PEP 517), its run-time closure, and pip
    # (pipx upgrades pip in its shared environment before it installs anything)
    build_requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels.deps), *build_requires, "pip", *runtime_closure())
    # gitcoord itself, offline: built in isolation from the wheels just fetched
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels.gitcoord), str(copy_source(root / "build")),
         env=wheels.offline_env())
    return wheels


def shared_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """The wheels, built by whichever test (or xdist worker) asks first in this run."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by this run's workers
    root = base / "wheelhouse"
    with filelock.FileLock(str(base / "wheelhouse.lock")):
        done = root / "done"
        if not done.exists():
            if root.exists():
                shutil.rmtree(root)  # a build that failed half-way
            root.mkdir()
            _build(root)
            done.touch()
    return Wheels(deps=root / "deps", gitcoord=root / "dist", source=root / "source")


def gitcoord_wheel(wheels: Wheels) -> Path:
    (whl,) = wheels.gitcoord.glob("gitcoord-*.whl")
    return whl
