"""Keystone decisions without HTTP: credentials, scoping, token validity and expiry."""

from __future__ import annotations

import time

import pytest

from probes.sandbox.api.errors import ApiError
from probes.sandbox.config import SandboxConfig
from probes.sandbox.identity import IdentityStore


@pytest.fixture
def ident() -> IdentityStore:
    return IdentityStore(SandboxConfig().identity)


def test_password_by_name_and_id(ident: IdentityStore) -> None:
    user = ident.password_user({"name": "demo", "domain": {"name": "Default"},
                                "password": "sandbox-demo-pw"})
    assert ident.password_user({"id": user.id, "password": "sandbox-demo-pw"}) == user


@pytest.mark.parametrize("ref", [
    {"name": "demo", "domain": {"id": "default"}, "password": "wrong"},
    {"name": "ghost", "domain": {"id": "default"}, "password": "sandbox-demo-pw"},
    {"name": "demo", "domain": {"id": "other"}, "password": "sandbox-demo-pw"},
    {"id": "nope", "password": "x"},
])
def test_bad_credentials_are_401(ident: IdentityStore, ref: dict[str, object]) -> None:
    with pytest.raises(ApiError) as info:
        ident.password_user(ref)
    assert info.value.status == 401


def test_scope_needs_a_role(ident: IdentityStore) -> None:
    demo = ident.user_by_name("demo")
    assert ident.resolve_project(demo, {"project": {"name": "demo",
                                                    "domain": {"id": "default"}}})
    with pytest.raises(ApiError) as info:
        ident.resolve_project(demo, {"project": {"name": "ops.example.org",
                                                 "domain": {"id": "default"}}})
    assert info.value.status == 401


def test_tokens_expire_and_can_be_cut_short(ident: IdentityStore) -> None:
    demo = ident.user_by_name("demo")
    tok = ident.issue(demo, None, ("password",))
    assert ident.validate(tok.id) == tok
    assert ident.validate("unknown") is None
    ident.token_valid_for = 0.05
    short = ident.issue(demo, None, ("password",))
    assert short.expires_at - short.issued_at == pytest.approx(3600, abs=1)
    time.sleep(0.1)
    assert ident.validate(short.id) is None
    assert ident.revoke(tok.id) and ident.validate(tok.id) is None


def test_oidc_token_maps_to_federated_user(ident: IdentityStore) -> None:
    user = ident.federated_user("egi.eu", "openid", "sandbox-oidc-access-token")
    assert user.federation and user.federation["protocol"] == {"id": "openid"}
    assert ident.project_by_name("vo.example.org").id in user.project_ids
    for idp, proto, bearer, status in [("egi.eu", "oidc", "sandbox-oidc-access-token", 404),
                                       ("nope", "openid", "x", 404),
                                       ("egi.eu", "openid", "wrong", 401)]:
        with pytest.raises(ApiError) as info:
            ident.federated_user(idp, proto, bearer)
        assert info.value.status == status
