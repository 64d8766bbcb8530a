"""Imported at start-up by every Python process the tests start (tests/guards/session.py puts
this directory first on PYTHONPATH): turns the session's guards on in it. The guards and the
program registry are loaded by file path under private names, so the process's sys.path and
imports stay its own (the real Keystone's venv has none of fedprobe's packages)."""

import importlib.util
import json
import os
import sys

_LOG = "FEDPROBE_TEST_GUARD_LOG"


def _load(name, path, package=False):
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[os.path.dirname(path)] if package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _install():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    _load("_fedprobe_test_guards", os.path.join(root, "tests", "guards", "__init__.py"), True)
    audit = importlib.import_module("_fedprobe_test_guards.audit")
    programs = _load("_fedprobe_programs", os.path.join(root, "probes", "programs.py"))
    audit.install_from_env(lambda: frozenset(programs.PROGRAMS))


if os.environ.get(_LOG):
    try:
        _install()
    except Exception as exc:  # Python would only print a line and run unguarded: fail the test
        with open(os.environ[_LOG], "a") as log:
            log.write(json.dumps({"kind": "guard", "pid": os.getpid(),
                                  "detail": f"the guards did not load in {sys.executable}: "
                                            f"{type(exc).__name__}: {exc}",
                                  "test": os.environ.get("PYTEST_CURRENT_TEST", "")}) + "\n")
