"""`make packages`' wheel and sdist (issue 21, first part): built without network from the venv's
own build backend, the wheel carries every module and, beside them, the dashboard and alert
rules (as package data) and the example configs and systemd units (as data files for
<prefix>/share/fedprobe); unpacked elsewhere, the package finds its dashboard and its command
runs; the sdist holds what the distribution packages are built from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    work = tmp_path_factory.mktemp("src")
    # from a copy of the tracked files: what a clean clone builds, not this checkout's litter
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes((ROOT / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(work)], capture_output=True, check=True, timeout=300)
    return out


def test_the_wheel_has_every_module_and_the_operators_files(dist: Path) -> None:
    [wheel] = dist.glob("fedprobe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for d in ("probes", "exporters")
               for p in (ROOT / d).rglob("*.py")}
    assert modules - names == set()
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/"
    assert {"exporters/grafana/fedprobe-dashboard.json",
            "exporters/alerts/fedprobe.rules.yml",
            data + "share/fedprobe/config/sites.example.yaml",
            data + "share/fedprobe/config/exporter.example.yaml",
            data + "share/fedprobe/systemd/fedprobe-exporter.service"} <= names
    assert not any(n.startswith("tests/") or n.endswith(".test.yml") for n in names)


def test_the_sdist_holds_what_packages_are_built_from(dist: Path) -> None:
    [sdist] = dist.glob("fedprobe-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert {"pyproject.toml", "config/sites.example.yaml", "docs/packaging.md",
            "packaging/systemd/fedprobe-exporter.service",
            "exporters/grafana/fedprobe-dashboard.json", "CHANGELOG.md"} <= names


def test_unpacked_it_finds_its_dashboard_and_runs(dist: Path, tmp_path: Path) -> None:
    # a pure wheel's files are its install (pip itself is not run: it execs lsb_release, uname
    # and rustc to describe the machine)
    [wheel] = dist.glob("fedprobe-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # noqa: S202 (the wheel built just now)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import importlib.resources, json, exporters; "
            "print(exporters.__file__); "
            "d = importlib.resources.files('exporters') / 'grafana/fedprobe-dashboard.json'; "
            "print(json.loads(d.read_text())['title'])")
    out = subprocess.run([sys.executable, "-I", "-c", code.replace("import importlib",
                          f"import sys; sys.path.insert(0, {str(site)!r}); import importlib")],
                         cwd=tmp_path, capture_output=True, text=True, check=True
                         ).stdout.splitlines()
    assert out[0].startswith(str(site))  # the unpacked copy, not this checkout
    assert out[1] == json.loads((ROOT / "exporters/grafana/fedprobe-dashboard.json")
                                .read_text())["title"]
    [data] = site.glob("fedprobe-*.data/data")
    assert (data / "share/fedprobe/config/sites.example.yaml").read_text() == \
        (ROOT / "config/sites.example.yaml").read_text()
    run = subprocess.run([sys.executable, "-m", "probes", "vm", "--help"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--state-dir" in run.stdout
