"""The shipped example configuration is valid and describes the default cloud's essentials."""

from __future__ import annotations

from pathlib import Path

from probes.sandbox.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sandbox.example.yaml"


def test_example_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.guests.kind == "auto"
    assert [n.name for n in cfg.networks] == ["demo-net", "shared-net", "public"]
    assert cfg.identity.identity_providers[0].protocols == ["openid"]
