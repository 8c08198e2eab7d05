#!/usr/bin/env python3
"""Build the images the container tests need, without pulling anything from a hub.

Test machines reach only Debian and PyPI mirrors, so images are made locally:

1. ``outlive-base:bookworm``: a Debian root file system from ``debootstrap --variant=minbase``
   with python3 and python3-venv, turned into an image by ``docker import``.  Built once and
   reused while the tag exists.
2. ``outlive-runtime:<hash>``: the base plus a virtualenv at ``/opt/outlive`` holding the
   project and its dependencies, installed from wheels (``pip download`` on the host,
   ``docker build --network none``).  The hash covers exactly what the wheel is built from
   (pyproject, README and the package trees), the Dockerfile and the base image, so the image
   is rebuilt only when the project changes, and a warm run builds nothing (no pip at all).

Usage: ``python scripts/docker_images.py [--base-only] [--project DIR]``.  The last line printed
is the runtime image tag (``outlive-runtime:<hash>``), which callers parse.

Needs the ``docker`` SDK in the running interpreter and an engine (``scripts/docker_engine.sh``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import docker
import docker.errors

BASE_IMAGE = "outlive-base:bookworm"
RUNTIME_REPO = "outlive-runtime"
SUITE = "bookworm"
# bookworm's python3 is 3.11; wheels are chosen for it, whatever Python runs this script.
TARGET_PYTHON = "3.11"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CACHE = Path(os.environ.get("OUTLIVE_IMAGE_CACHE", Path.home() / ".cache" / "outlive" / "images"))
PROJECT_ITEMS = ("pyproject.toml", "README.md", "plugin_core", "prefect_ext", "airflow_ext")

DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY wheels /wheels
RUN python3 -m venv /opt/outlive \\
 && /opt/outlive/bin/pip install --no-index --no-cache-dir --find-links /wheels outlive \\
 && rm -rf /wheels
ENV PATH=/opt/outlive/bin:{DEFAULT_PATH} PYTHONUNBUFFERED=1
CMD ["python", "-c", "import plugin_core"]
"""


_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress goes to stderr (stdout's last line stays the image tag), with elapsed time."""
    elapsed = time.monotonic() - _STARTED
    print(f"docker_images: [{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run a command, raising with its output when it fails (the output is the diagnosis)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{output}")


def ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise SystemExit("debootstrap is missing and we are not root: apt-get install debootstrap")
    log("installing debootstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-q", "debootstrap"], env=env)


def build_base(client: docker.DockerClient) -> None:
    """debootstrap a minimal bookworm and import it; skipped while the tag exists."""
    if image_exists(client, BASE_IMAGE):
        log(f"{BASE_IMAGE} exists, reusing it")
        return
    ensure_debootstrap()
    with tempfile.TemporaryDirectory(prefix="outlive-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        mirror = os.environ.get("OUTLIVE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        log(f"debootstrap {SUITE} into {rootfs} (a minute or two)")
        run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv",
             SUITE, str(rootfs), mirror])
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
        log(f"importing {BASE_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        importer = subprocess.run(
            ["docker", "import", "--change", f"ENV PATH={DEFAULT_PATH}",
             "--change", 'CMD ["python3"]', "-", BASE_IMAGE],
            stdin=tar.stdout, capture_output=True, text=True)
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0 or importer.returncode != 0:
            raise SystemExit(f"docker import failed: {importer.stderr}")


def copy_project(project: Path, dest: Path) -> None:
    """Copy only what the wheel is built from, so the build never writes into the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    for item in PROJECT_ITEMS:
        src = project / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / item)


def build_project_wheel(project: Path, out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="outlive-src-") as src:
        copy_project(project, Path(src))
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), src])
    wheels = list(out.glob("outlive-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one outlive wheel in {out}, found {wheels}")
    return wheels[0]


def _project_files(project: Path) -> list[Path]:
    files: list[Path] = []
    for item in PROJECT_ITEMS:
        path = project / item
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and not _ignored(p))
    return files


def _ignored(path: Path) -> bool:
    return path.suffix == ".pyc" or any(
        part in ("__pycache__", "build") or part.endswith(".egg-info") for part in path.parts
    )


def source_digest(project: Path, base_id: str) -> str:
    """Hash of the wheel's inputs (names and bytes), the Dockerfile and the base image id."""
    digest = hashlib.sha256(f"{base_id}\n{DOCKERFILE}".encode())
    for path in _project_files(project):
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def requirements(wheel: Path) -> list[str]:
    """The project's unconditional runtime requirements (extras are host-side only)."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    return sorted(r for r in meta.get_all("Requires-Dist", []) if "extra ==" not in r)


def download_dependencies(reqs: list[str]) -> Path:
    """Wheels for bookworm's CPython 3.11, cached by the requirement list."""
    key = hashlib.sha256("\n".join([TARGET_PYTHON, *PLATFORMS, *reqs]).encode()).hexdigest()[:16]
    dest = CACHE / "deps" / key
    if (dest / ".complete").exists():
        return dest
    log(f"pip download {len(reqs)} requirements into {dest}")
    shutil.rmtree(dest, ignore_errors=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
         "--python-version", TARGET_PYTHON, "--implementation", "cp", *platforms,
         "-d", str(dest), *reqs])
    (dest / ".complete").touch()
    return dest


def build_runtime(client: docker.DockerClient, project: Path) -> str:
    """Build (or reuse) outlive-runtime:<hash> and return its tag."""
    tag = f"{RUNTIME_REPO}:{source_digest(project, client.images.get(BASE_IMAGE).id)}"
    if image_exists(client, tag):
        log(f"{tag} exists, reusing it")
        return tag
    with tempfile.TemporaryDirectory(prefix="outlive-ctx-") as ctx_dir:
        ctx = Path(ctx_dir)
        wheels = ctx / "wheels"
        wheels.mkdir()
        wheel = build_project_wheel(project, wheels)
        for dep in download_dependencies(requirements(wheel)).glob("*.whl"):
            shutil.copy2(dep, wheels / dep.name)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        log(f"docker build {tag} (no network)")
        try:
            client.images.build(path=str(ctx), tag=tag, network_mode="none", rm=True,
                                forcerm=True)
        except docker.errors.BuildError as exc:
            output = "".join(str(chunk.get("stream", chunk)) for chunk in exc.build_log)
            raise SystemExit(f"docker build {tag} failed: {exc}\n{output[-3000:]}") from exc
    log(f"built {tag}")
    client.images.get(tag).tag(RUNTIME_REPO, "latest")
    prune_old_runtimes(client, keep=tag)
    return tag


def prune_old_runtimes(client: docker.DockerClient, keep: str) -> None:
    """Each project change makes a new tag; drop the old ones so the disk does not fill."""
    for image in client.images.list(name=RUNTIME_REPO):
        for old in image.tags:
            if old not in (keep, f"{RUNTIME_REPO}:latest"):
                try:
                    client.images.remove(old, noprune=False)
                except docker.errors.APIError as exc:  # still used by a container: keep it
                    log(f"kept {old}: {exc.explanation}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--base-only", action="store_true")
    args = parser.parse_args(argv)
    client = docker.from_env()
    try:
        build_base(client)
        tag = BASE_IMAGE if args.base_only else build_runtime(client, args.project.resolve())
    finally:
        client.close()
    log(f"done: {tag}")
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
