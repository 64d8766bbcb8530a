"""What may import what (docs/architecture.md), read from the source with ast — and, for the
sandbox, from what a plugin run really loads: the product reaches the sandbox only through
`fedprobe sandbox`; the sandbox (an independent oracle) never imports the probe's drivers, auth,
credentials, guest script and parser, config, runner or checks; runner, checks and report never
import a concrete driver; only the command-line edges print, exit or handle signals."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [*sorted((ROOT / "probes").rglob("*.py")), *sorted((ROOT / "exporters").rglob("*.py"))]
SANDBOX = ROOT / "probes" / "sandbox"
# The command-line edges: they print, exit and handle signals so nothing else has to.
EDGES = {ROOT / "probes" / "cli", SANDBOX / "cmd.py", ROOT / "exporters" / "cmd.py"}
# `python -m` tools whose one function is their command line (and stdlib-only: no cli/ there)
TOOL_MAINS = {("probes/programs.py", "main"), ("probes/sandbox/qemu/image.py", "report")}


@dataclass(frozen=True)
class Import:
    module: str     # what is imported: "a.b" for `import a.b`, "a.b.c" for `from a.b import c`
    line: int
    runtime: bool   # not only for type checking (inside `if TYPE_CHECKING:`)
    top: bool       # at module level, not inside a function


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[Import]:
    """Every import in the file, with where it stands."""
    found: list[Import] = []

    def walk(node: ast.AST, runtime: bool, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    walk_one(stmt, False, top)
                for stmt in child.orelse:
                    walk_one(stmt, runtime, top)
                continue
            walk_one(child, runtime, top)

    def walk_one(node: ast.AST, runtime: bool, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, runtime, top) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend(Import(f"{node.module}.{a.name}", node.lineno, runtime, top)
                         for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            walk(node, runtime, False)
        else:
            walk(node, runtime, top)

    walk(ast.parse(path.read_text(), str(path)), True, True)
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(paths: list[Path], forbidden: tuple[str, ...], *, runtime_only: bool,
               allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{rel(p)}:{i.line} imports {i.module}"
            for p in paths for i in imports(p)
            if (i.runtime or not runtime_only)
            and any(_under(i.module, f) for f in forbidden)
            and not any(_under(i.module, a) for a in allowed)]


def test_the_import_reader_sees_what_matters(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nimport os.path\n"
                   "from probes import drivers\nif TYPE_CHECKING:\n    from a import b\n"
                   "def f():\n    from probes.drivers.openstack import X\n")
    got = {(i.module, i.runtime, i.top) for i in imports(src)}
    assert got == {("typing.TYPE_CHECKING", True, True), ("os.path", True, True),
                   ("probes.drivers", True, True), ("a.b", False, True),
                   ("probes.drivers.openstack.X", True, False)}
    assert violations([src], ("probes.drivers.openstack",), runtime_only=True) == \
        [f"{src}:7 imports probes.drivers.openstack.X"]
    assert violations([src], ("a",), runtime_only=True) == []  # only for type checking


def test_the_product_reaches_the_sandbox_only_through_its_command() -> None:
    outside = [p for p in PRODUCT if not p.is_relative_to(SANDBOX)]
    found = [v for v in violations(outside, ("probes.sandbox",), runtime_only=True)
             if not v.startswith("probes/cli/main.py:") or "probes.sandbox.cmd" not in v]
    assert found == []
    # ... and the command's module imports nothing of the sandbox until it runs
    cmd = [i for i in imports(SANDBOX / "cmd.py") if i.top and i.runtime]
    assert [i.module for i in cmd if _under(i.module, "probes")] == \
        ["probes.cli.env.CommandStatus", "probes.cli.env.Environment"]


def test_a_plugin_run_loads_nothing_of_the_sandbox(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom probes.cli.main import main\n"
            "import probes.runner.registry, exporters.runchecks, exporters.app, exporters.web\n"
            f"main(['token', '--file', {str(tmp_path / 'none')!r}])\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('probes.'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, check=True).stdout.splitlines()[-1]
    loaded = json.loads(out)
    assert "probes.runner.registry" in loaded  # it did load the product
    assert [m for m in loaded if _under(m, "probes.sandbox")] == \
        ["probes.sandbox", "probes.sandbox.cmd"]


def test_the_sandbox_imports_nothing_of_the_probe() -> None:
    probe = ("probes.drivers", "probes.auth", "probes.credentials", "probes.guest",
             "probes.config", "probes.runner", "probes.checks", "probes.report", "exporters")
    assert violations(sorted(SANDBOX.rglob("*.py")), probe, runtime_only=False) == []


def test_runner_checks_and_report_never_import_a_concrete_driver() -> None:
    parts = [p for d in ("runner", "checks", "report") for p in (ROOT / "probes" / d).rglob("*.py")]
    # the package is the registry (`from probes import drivers`), base its interface
    neutral = {"base", "answer", "create", "names"}
    concrete = [f"{rel(p)}:{i.line} imports {i.module}" for p in parts for i in imports(p)
                if i.runtime and i.module.startswith("probes.drivers.")
                and i.module.split(".")[2] not in neutral]
    assert concrete == []
    assert any(i.module == "probes.drivers" for i in imports(ROOT / "probes/runner/registry.py"))


def test_the_vm_runner_logs_in_only_through_its_driver() -> None:
    # the lifecycle and everything it, the guardian and the ledger cleanup use: no Keystone
    # (the fast checks, OpenStack's own, log in themselves)
    vm_side = [p for p in (ROOT / "probes" / "runner").rglob("*.py") if p.name != "fast.py"]
    assert violations(vm_side, ("probes.auth",), runtime_only=False) == []


def test_commands_do_not_import_the_dispatcher() -> None:
    # main.py is the dispatcher; early.py is the program's entry point, which starts it
    commands = [p for p in (ROOT / "probes" / "cli").glob("*.py")
                if p.name not in ("main.py", "early.py")]
    others = [p for p in PRODUCT
              if p.parent != ROOT / "probes" / "cli" and p != ROOT / "probes" / "__main__.py"]
    assert violations(commands + others, ("probes.cli.main",), runtime_only=False) == []


def _edge(path: Path) -> bool:
    return any(path == e or path.is_relative_to(e) for e in EDGES)


def _effects(path: Path) -> Iterator[str]:
    """print, exit, signal handlers: where they are outside `if __name__ == "__main__"`."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        main_block = (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                      and isinstance(node.test.left, ast.Name)
                      and node.test.left.id == "__name__")
        tool = (isinstance(node, ast.FunctionDef)
                and (rel(path), node.name) in TOOL_MAINS)
        if main_block or tool:
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else (
                f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute)
                and isinstance(f.value, ast.Name) else "")
            if name in ("print", "exit", "quit", "sys.exit", "os._exit", "signal.signal",
                        "signal.setitimer", "signal.alarm"):
                yield f"{rel(path)}:{node.lineno} calls {name}"
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                yield f"{rel(path)}:{node.lineno} raises SystemExit"


def test_only_the_command_line_edges_print_exit_or_handle_signals() -> None:
    assert [e for p in PRODUCT if not _edge(p) for e in _effects(p)] == []


@pytest.mark.parametrize("snippet", ["print('x')", "sys.exit(1)", "signal.signal(2, f)",
                                     "raise SystemExit(3)"])
def test_the_effects_reader_finds_them(tmp_path: Path, snippet: str) -> None:
    path = tmp_path / "effects.py"
    path.write_text(f"import signal, sys\ndef f():\n    {snippet}\n"
                    f"if __name__ == '__main__':\n    print('fine here')\n")
    assert len(list(_effects(path))) == 1


def test_the_vm_runner_checks_and_report_name_no_cloud() -> None:
    # the lifecycle, its phases, result, custody, the vm check's judge and renderer: words any
    # driver's cloud shares (server, image, flavor), never one cloud's own APIs
    files = [p for d in ("runner", "checks", "report") for p in (ROOT / "probes" / d).rglob("*.py")
             if p.name not in ("fast.py", "registry.py", "steps.py", "proxy.py", "token.py")]
    # (lower-case "glance", "swift" and "cinder" are English, "at a glance")
    words = re.compile(r"\b([Kk]eystone|[Nn]ova|NOVA|Glance|[Nn]eutron|[Oo]pen[Ss]tack|OPENSTACK"
                       r"|Cinder|Swift)\b")
    found = [f"{rel(p)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text().splitlines(), 1) if words.search(line)]
    assert len(files) > 10 and found == []
