"""What every fuzzed run is held to (the exit-code contract, docs/exit-codes.md): a plugin exits
0-3 with one status line naming itself and its state, never a traceback, never "internal error";
a secret never shows. Runs are in-process (probes.cli.main with its streams swapped), so an example
costs milliseconds, and the test guards see every connection: a fuzzed URL stays on loopback."""

from __future__ import annotations

import io
import os
import socket
import stat
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from probes.cli.env import Environment
from probes.cli.main import main

SECRET = "Canary-Secret-7f3a9c"  # put where a secret goes: it must never be shown
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening), held while in use."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def environ(work: Path, **extra: str) -> dict[str, str]:
    """A run's whole environment: its own HOME (no clouds.yaml of this machine's user), the
    test's state directory, and what the example adds."""
    env = {"HOME": str(work / "home"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "FEDPROBE_STATE_DIR": os.environ["FEDPROBE_STATE_DIR"],
           "OS_CLIENT_CONFIG_FILE": str(work / "no-clouds.yaml")}
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = int(main(argv, Environment(stdout=out, stderr=err, environ=env)))
    return Run(code, out.getvalue(), err.getvalue())


def holds_contract(r: Run, plugin: str, *secrets: str) -> None:
    """The contract every plugin run keeps, whatever it was given."""
    assert r.code in (0, 1, 2, 3), r
    assert "Traceback" not in r.text and "internal error" not in r.text, r
    lines = r.out.splitlines()
    assert lines, r
    assert lines[0].startswith(f"{plugin} {STATES[r.code]} - "), r
    assert len(lines[0]) < 4096
    for secret in (SECRET, *secrets):
        assert secret not in r.text, r


def operator_mistake(r: Run, plugin: str, *needles: str) -> None:
    """Bad operator input: UNKNOWN, and the line names what was wrong (any of the needles)."""
    holds_contract(r, plugin)
    assert r.code == 3, r
    if needles:
        assert any(n in r.out for n in needles), (needles, r)


# -- strategies --------------------------------------------------------------------------------
# a value as YAML can hold one (secrets only where a test asks for them)
scalars = (st.none() | st.booleans() | st.integers(-(2 ** 66), 2 ** 66)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=24) | st.sampled_from(["", "0", "22", "yes", "no", "-1", "null",
                                                     "http://[::1", "/dev/zero"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=8)
words = st.text(alphabet=string.ascii_letters + string.digits + "_-.:/@[]%~ ", max_size=30)


def urls(port: int, names: bool = True) -> st.SearchStrategy[str]:
    """URLs an operator might type, all on loopback, and (`names`) words that are no URL — not
    for an option that takes HOST:PORT (--pushgateway): a word there is a host name to look up,
    a DNS query the test guards refuse."""
    host = st.sampled_from(["127.0.0.1", "[::1]", "localhost", "[::1", "::1", "127.0.0.1]",
                            "", "u:" + SECRET + "@127.0.0.1", "127.0.0.1:abc",
                            f"127.0.0.1:{port}", f"[::1]:{port}", "127.0.0.1:99999",
                            "127.0.0.1:0", "%zz", "127.0.0.1 "])
    scheme = st.sampled_from(["http://", "https://", "ftp://", "", "http:/", "HTTP://",
                              "file://", "http:///"])
    path = st.sampled_from(["/v3", "", "/", "/v3?x=1", "/v3#f", "/\x00", "/é"])
    built = st.builds(lambda s, h, p: s + h + p, scheme, host, path)
    return built | words if names else built


def devices(work: Path) -> list[str]:
    """The test's own /dev/zero and /dev/null (device nodes in its directory): a fuzzed path
    may be written to, and a bug must not replace the machine's own (as root, it once did)."""
    made = []
    for name, minor in (("zero", 5), ("null", 3)):
        node = work / name
        if not node.exists():
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        made.append(str(node))
    return made


def paths(work: Path) -> st.SearchStrategy[str]:
    """File names that are no usable file, and one that is."""
    fifo = work / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    (work / "a-dir").mkdir(exist_ok=True)
    big = work / "big"
    if not big.exists():
        big.write_bytes(b"x" * (2 * 1024 * 1024))
    return st.sampled_from([str(fifo), *devices(work), str(work / "a-dir"),
                            str(work / "missing"), str(big), "", "a\x00b", str(work / "pw")])


def mutations(doc: Any) -> st.SearchStrategy[tuple[str, Any]]:
    """(where, the doc changed there): a value replaced, a key removed, added or misspelt."""
    places = list(_places(doc, ()))

    @st.composite
    def mutate(draw: st.DrawFn) -> tuple[str, Any]:
        where = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "delete", "add", "misspell"]))
        new = yaml.safe_load(yaml.safe_dump(doc))  # a deep copy
        parent: Any = new
        for key in where[:-1]:
            parent = parent[key]
        key = where[-1] if where else None
        if key is None or action == "replace":
            value = draw(values)
            if key is None:
                return "top level", value
            parent[key] = value
        elif action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        elif action == "misspell" and isinstance(parent, dict) and isinstance(key, str):
            parent[key[::-1] + "x"] = parent.pop(key)
        return ".".join(str(k) for k in where), new

    return mutate()


def _places(doc: Any, at: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _places(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _places(value, (*at, i))


def write_yaml(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path
