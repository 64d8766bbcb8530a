"""The sandbox config: defaults usable as they are, strict validation with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes.sandbox.config import SandboxConfig, SandboxConfigError, load_config, parse_config


def test_defaults_describe_a_usable_cloud() -> None:
    cfg = SandboxConfig()
    assert {p.name for p in cfg.identity.projects} >= {"demo", "vo.example.org"}
    assert any(f.ram <= 64 for f in cfg.flavors)
    cidrs = [s.cidr for n in cfg.networks for s in n.subnets]
    assert any(":" in c for c in cidrs) and any("." in c for c in cidrs)
    assert not any(c.startswith("192.0.2.") for c in cidrs)  # this machine's own network


def test_none_and_empty_files_give_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == SandboxConfig()
    assert load_config(None) == SandboxConfig()


@pytest.mark.parametrize("data,needle", [
    ({"quota": {"instances": "many"}}, "key 'quota.instances' value 'many'"),
    ({"guests": {"kind": "vm"}}, "key 'guests.kind' value 'vm'"),
    ({"delete_delay": -1}, "key 'delete_delay' value -1"),
    ({"faults": {"errors": {"create": {"status": 418}}}}, "faults.errors.create.status"),
    ({"faults": {"errors": {"create": {"rate": 1.5}}}}, "faults.errors.create.rate"),
    ({"identity": {"application_credentials": [
        {"id": "x", "secret": "y", "user": "ghost", "project": "demo"}]}}, "unknown user"),
    ({"networks": [{"name": "n", "project": "ghost"}]}, "networks.0.project"),
])
def test_errors_name_key_and_value(data: dict[str, object], needle: str) -> None:
    with pytest.raises(SandboxConfigError) as info:
        parse_config(data, "site.yaml")
    message = str(info.value)
    assert message.startswith("site.yaml: ") and needle in message
    assert "\n" not in message


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(SandboxConfigError) as info:
        parse_config({"identity": {"users": [{"name": "u", "password": ["canary-pw-123"]}]}})
    assert "canary-pw-123" not in str(info.value)
    assert "<redacted>" in str(info.value)


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(SandboxConfigError, match="top level must be a mapping, got list"):
        parse_config([1, 2], "x.yaml")
