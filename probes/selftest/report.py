"""The JSON report: the whole evidence (every check, every lifecycle run), secrets redacted as
the sites file's own display redacts them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from probes.runner.result import LifecycleResult
from probes.selftest.model import Result
from probes.selftest.profiles import Profile
from probes.selftest.verdict import Verdict

SCHEMA_VERSION = 1
REDACTED = "<redacted>"


def shown(model: Any) -> Any:
    """A pydantic model as JSON-able data, with every secret field (declared repr=False, as
    the site model declares passwords, secrets and tokens) that is set shown as <redacted>."""
    from pydantic import BaseModel

    if isinstance(model, BaseModel):
        out = {}
        for name, info in type(model).model_fields.items():
            value = getattr(model, name)
            out[name] = (REDACTED if value is not None and info.repr is False
                         else shown(value))
        return out
    if isinstance(model, dict):
        return {k: shown(v) for k, v in model.items()}
    if isinstance(model, list | tuple | set | frozenset):
        return [shown(v) for v in model]
    if model is None or isinstance(model, str | int | float | bool):
        return model
    return str(model)


def as_dict(site: str, shown_config: dict[str, Any], profile: Profile,
            results: Sequence[Result], runs: Sequence[LifecycleResult], verdict: Verdict,
            started: float, seconds: float) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "site": site,
        "profile": {"name": profile.name, "version": profile.version},
        "configuration": shown_config,
        "started": started,
        "seconds": round(seconds, 3),
        "verdict": {"code": verdict.code, "line": verdict.line,
                    "blocking_failures": list(verdict.blocking_failures),
                    "blocking_not_run": list(verdict.blocking_not_run),
                    "warnings": list(verdict.warnings),
                    "not_checked": list(verdict.not_checked)},
        "checks": [{"check": r.check, "title": r.title, "status": r.status.value,
                    "level": profile.level(r.check), "evidence": r.evidence,
                    "remediation": r.remediation,
                    "seconds": None if r.seconds is None else round(r.seconds, 3),
                    "data": dict(r.data)} for r in results],
        "lifecycle_runs": [r.as_dict() for r in runs],
    }


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
