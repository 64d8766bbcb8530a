"""packaging/privvenv.py's checks before it builds the packages' private venv: a lock line that
is not name==version, a locked version with no wheel this Python can run, and wheels that do
not fit together are one-line errors naming what is wrong, not a venv that fails at run time."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "privvenv", Path(__file__).resolve().parents[2] / "packaging/privvenv.py")
assert SPEC and SPEC.loader
privvenv = importlib.util.module_from_spec(SPEC)
sys.modules["privvenv"] = privvenv
SPEC.loader.exec_module(privvenv)


def wheel(house: Path, name: str, version: str, *requires: str,
          tag: str = "py3-none-any") -> Path:
    path = house / f"{name}-{version}-{tag}.whl"
    meta = "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{meta}")
    return path


def lock(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text(text)
    return path


def test_the_wheels_of_the_lock_fit_together(tmp_path: Path) -> None:
    wheel(tmp_path, "alpha", "1.2", "beta>=2; python_version>='3'", "gamma; extra == 'x'")
    wheel(tmp_path, "beta", "2.0")
    main = wheel(tmp_path, "fedprobe", "0.1.0", "alpha>=1")
    locked = privvenv.read_lock(lock(tmp_path, "alpha==1.2\nbeta==2.0\n"))
    wheels = privvenv.pick(tmp_path, locked, main)
    privvenv.check_closed(wheels)  # gamma is only for an extra nobody asked for
    assert [w.name for w in wheels] == ["alpha", "beta", "fedprobe"]


def test_a_requirement_the_lock_does_not_meet_is_named(tmp_path: Path) -> None:
    wheel(tmp_path, "alpha", "1.2", "beta>=3")
    wheel(tmp_path, "beta", "2.0")
    main = wheel(tmp_path, "fedprobe", "0.1.0", "alpha>=1", "delta")
    locked = privvenv.read_lock(lock(tmp_path, "alpha==1.2\nbeta==2.0\n"))
    wheels = privvenv.pick(tmp_path, locked, main)
    with pytest.raises(privvenv.BuildError) as e:
        privvenv.check_closed(wheels)
    assert "alpha needs beta>=3, the lock has 2.0" in str(e.value)
    assert "fedprobe needs delta (not in the lock)" in str(e.value)


def test_a_locked_version_without_a_wheel_for_this_python_is_named(tmp_path: Path) -> None:
    wheel(tmp_path, "alpha", "1.2", tag="cp27-cp27m-win32")
    wheel(tmp_path, "alpha", "1.3")  # another version does not count
    main = wheel(tmp_path, "fedprobe", "0.1.0")
    with pytest.raises(privvenv.BuildError, match=r"no wheel this Python .* for alpha==1.2"):
        privvenv.pick(tmp_path, privvenv.read_lock(lock(tmp_path, "alpha==1.2\n")), main)


def test_a_lock_line_that_is_not_name_equals_version_is_named(tmp_path: Path) -> None:
    with pytest.raises(privvenv.BuildError, match=r"requirements.lock:2: 'beta>=2' is not"):
        privvenv.read_lock(lock(tmp_path, "# a comment\nbeta>=2\n"))
    assert privvenv.main(["build", "--wheelhouse", str(tmp_path), "--wheel",
                          str(tmp_path / "none.whl"), "--lock", str(tmp_path / "missing"),
                          "--destdir", str(tmp_path / "d")]) == 1


def test_the_lock_is_the_installed_closure_of_fedprobe() -> None:
    # the committed lock is what this venv resolved (refresh: privvenv.py lock)
    committed = privvenv.read_lock(Path(__file__).resolve().parents[2]
                                   / "packaging/requirements.lock")
    assert {line.split("==")[0] for line in privvenv.lock_lines()} == set(committed)
