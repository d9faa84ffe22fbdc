"""The platform's one image, built locally: no image registry is needed.

    1. a Debian bookworm root filesystem made by debootstrap from Debian's archive, tarred and cached
       in CACHE (keyed by its inputs), imported into the engine as the base image;
    2. a wheelhouse made on the host by pip (drillkit's dependencies, cached by the dependency list and
       the pip constraints; drillkit's own wheel, made anew for each source state);
    3. deploy/docker/Dockerfile built on that base with no network.

The image's tag is a hash of every input, so that a later run reuses it and a changed source rebuilds it.
Every step says how long it took.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from drillkit.errors import SandboxError
from drillkit.staging.engine import Engine, _path_env

__all__ = ["CACHE", "DRILL_IMAGE", "IMAGE", "ImageBuilder", "drill_image_builder", "repo_root"]

CACHE = Path("/var/cache/drillkit")
IMAGE = "drillkit-platform"
BASE_IMAGE = "drillkit-base"
DOCKERFILE = Path("deploy/docker/Dockerfile")
# The drill's image for Kubernetes (deploy/kubernetes/drill): drillkit and the repository's drills, experiments,
# probes and load tests, in /srv/drillkit, on the same base and wheelhouse.
DRILL_IMAGE = "drillkit"
DRILL_DOCKERFILE = Path("deploy/kubernetes/drill/Dockerfile")
DRILL_DATA = ("drills", "experiments", "probes", "loadtests")
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
ROOTFS_PACKAGES = ("python3", "python3-venv", "ca-certificates")
PIP_CONSTRAINTS = Path("/etc/xdg/pip/constraints.txt")
HEARTBEAT_S = 15.0

Report = Callable[[str], None]


def repo_root() -> Path:
    """The checkout to build from (it holds pyproject.toml and deploy/): the current directory, else the one
    this drillkit runs from."""
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        if (parent / "pyproject.toml").exists() and (parent / DOCKERFILE).exists():
            return parent
    raise SandboxError(f"neither the current directory nor any above {here} is drillkit's checkout: the staging "
                       f"is built from its source tree (pyproject.toml and {DOCKERFILE}); run it from there")


@contextlib.contextmanager
def step(report: Callable[[str], None], what: str) -> Iterator[None]:
    """Say WHAT starts, then how long it took: the staging's progress lines."""
    report(f"{what} ...")
    started = time.monotonic()
    yield
    report(f"{what}: {time.monotonic() - started:.1f} s")


@dataclass(frozen=True)
class ImageBuilder:
    """Builds `NAME:<hash>` (drillkit-platform by default) on ENGINE from the checkout REPO with DOCKERFILE;
    DATA names repository folders the build context also carries (under repo/)."""

    engine: Engine
    repo: Path
    cache: Path = CACHE
    report: Report = print
    name: str = IMAGE
    dockerfile: Path = DOCKERFILE
    data: tuple[str, ...] = ()

    def image(self) -> str:
        """The image's tag, built when the engine does not have it yet."""
        started = time.monotonic()
        self.cache.mkdir(parents=True, exist_ok=True)
        base = self._base_image()
        wheels = self._dependency_wheels()
        tag = f"{self.name}:{self.image_key(base, wheels)}"
        if self._has_image(tag):
            self.report(f"image {tag}: cached ({time.monotonic() - started:.1f} s)")
            return tag
        with tempfile.TemporaryDirectory(prefix="drillkit-image-", dir=self.cache) as scratch:
            context = Path(scratch)
            self._stage_context(context, wheels)
            with step(self.report, f"docker build {tag} (no network)"):
                self._run(["docker", "--host", self.engine.url, "build", "--network", "none",
                           "--build-arg", f"BASE={base}", "--tag", tag, str(context)],
                          {"DOCKER_BUILDKIT": "0"})
        self.report(f"image {tag}: built in {time.monotonic() - started:.1f} s in all")
        self._remove_older(tag)
        return tag

    def _remove_older(self, tag: str) -> None:
        """Every other image of this name: each source change makes one, of about 400 MB of its own.
        One that a container still uses stays (docker refuses), and is removed with a later build."""
        listed = subprocess.run(["docker", "--host", self.engine.url, "image", "ls", self.name, "--format",
                                 "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, check=False,
                                env=_path_env()).stdout.split()
        older = [name for name in listed if name not in (tag, f"{self.name}:latest")]
        if older:
            subprocess.run(["docker", "--host", self.engine.url, "image", "rm", *older], capture_output=True,
                           check=False, env=_path_env())
            self.report(f"removed the older images {', '.join(older)}")

    # -- the base image ------------------------------------------------------------------------

    def _base_image(self) -> str:
        key = _digest(json.dumps([SUITE, MIRROR, "minbase", ROOTFS_PACKAGES]))[:12]
        tag = f"{BASE_IMAGE}:{SUITE}-{key}"
        if self._has_image(tag):
            return tag
        tar = self._rootfs_tar(key)
        with step(self.report, f"docker import {tar.name} as {tag}"):
            self._run(["docker", "--host", self.engine.url, "import", str(tar), tag])
        return tag

    def _rootfs_tar(self, key: str) -> Path:
        tar = self.cache / f"rootfs-{SUITE}-{key}.tar"
        if tar.exists():
            self.report(f"root filesystem: cached {tar}")
            return tar
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="rootfs-", dir=self.cache) as scratch:
            root = Path(scratch) / "root"
            with step(self.report, f"debootstrap {SUITE} ({', '.join(ROOTFS_PACKAGES)}) from {MIRROR}"):
                self._run(["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
                           SUITE, str(root), MIRROR])
            _trim(root)
            partial = Path(scratch) / tar.name
            with step(self.report, f"tar the root filesystem into {tar}"):
                self._run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."])
            partial.rename(tar)
        return tar

    # -- the wheelhouse ------------------------------------------------------------------------

    def _dependency_wheels(self) -> Path:
        """drillkit's dependencies as wheels for this CPython (3.11, as the image's), cached."""
        if sys.version_info[:2] != (3, 11):
            raise SandboxError(f"the image runs CPython 3.11; the wheelhouse needs the same, not {sys.version}")
        inputs = [_dependencies(self.repo), PIP_CONSTRAINTS.read_text() if PIP_CONSTRAINTS.exists() else ""]
        where = self.cache / f"wheels-cp311-{_digest(json.dumps(inputs))[:12]}"
        if where.exists():
            return where
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="wheels-", dir=self.cache))
        with step(self.report, "pip wheel: drillkit's dependencies"):
            self._run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial), str(self.repo)])
        for own in partial.glob("drillkit-*.whl"):
            own.unlink()  # made anew for each source state
        partial.rename(where)
        return where

    def _stage_context(self, context: Path, dependency_wheels: Path) -> None:
        wheels = context / "wheels"
        wheels.mkdir()
        for wheel in dependency_wheels.glob("*.whl"):
            os.link(wheel, wheels / wheel.name)
        with step(self.report, "pip wheel: drillkit"):
            self._run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels),
                       str(self.repo)])
        shutil.copy(self.repo / self.dockerfile, context / "Dockerfile")
        for folder in self.data:
            shutil.copytree(self.repo / folder, context / "repo" / folder,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    # -- keys and helpers ----------------------------------------------------------------------

    def image_key(self, base: str, dependency_wheels: Path) -> str:
        sources = hashlib.sha256()
        for part in (base, dependency_wheels.name, (self.repo / self.dockerfile).read_text(),
                     (self.repo / "pyproject.toml").read_text()):
            sources.update(part.encode() + b"\0")
        folders = [self.repo / "src" / "drillkit", *(self.repo / folder for folder in self.data)]
        for path in (path for folder in folders for path in _source_files(folder)):
            sources.update(str(path.relative_to(self.repo)).encode() + b"\0" + path.read_bytes() + b"\0")
        return sources.hexdigest()[:12]

    def tag_latest(self, tag: str) -> str:
        """Also call TAG NAME:latest (what a kustomization names until it pins the hash)."""
        latest = f"{self.name}:latest"
        self._run(["docker", "--host", self.engine.url, "tag", tag, latest])
        return latest

    def save(self, tag: str, archive: Path) -> None:
        """TAG as a tar archive, for a cluster's runtime to import (no registry)."""
        with step(self.report, f"docker save {tag} -o {archive}"):
            self._run(["docker", "--host", self.engine.url, "save", "-o", str(archive.absolute()), tag])

    def _has_image(self, tag: str) -> bool:
        result = subprocess.run(["docker", "--host", self.engine.url, "image", "inspect", tag],
                                capture_output=True, text=True, check=False, env=_path_env())
        return result.returncode == 0

    def _run(self, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        """Run ARGV with its output in a log; every HEARTBEAT_S say that it still runs; on failure, raise
        with the log's tail."""
        with tempfile.TemporaryFile(mode="w+") as log:
            env = {**_path_env(), **(extra_env or {})}
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            started = time.monotonic()
            while True:
                try:
                    code = proc.wait(timeout=HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    self.report(f"  ... {argv[0]} {argv[1] if len(argv) > 1 else ''} still running "
                                f"({time.monotonic() - started:.0f} s)")
            if code != 0:
                log.seek(0)
                tail = "\n".join(log.read().splitlines()[-25:])
                raise SandboxError(f"{' '.join(argv[:4])} … failed with exit code {code}:\n{tail}")


def drill_image_builder(engine: Engine, repo: Path, report: Report) -> ImageBuilder:
    """The builder of `drillkit:<hash>`, the image the Kubernetes drill and the Locust Jobs run."""
    return ImageBuilder(engine, repo, report=report, name=DRILL_IMAGE, dockerfile=DRILL_DOCKERFILE, data=DRILL_DATA)


def _dependencies(repo: Path) -> list[str]:
    return list(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"])


def _source_files(package: Path) -> list[Path]:
    return sorted(path for path in package.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc")


def _trim(root: Path) -> None:
    """Drop what a container never uses: the package lists and the downloaded packages."""
    for junk in (root / "var/cache/apt/archives", root / "var/lib/apt/lists"):
        for entry in junk.glob("*"):
            if entry.is_file():
                entry.unlink()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
