"""The one-line reason for a refused login: the front's bearer challenge quoted, Keystone's
silence explained for federated logins, the token's entitled VOs named (never the token)."""

from __future__ import annotations

from typing import Any

from probes.auth.refusal import unauthorized
from probes.config.site import Auth
from tests.tokens import jwt


class Answer:
    def __init__(self, challenge: str, body: Any = None) -> None:
        self.headers = {"WWW-Authenticate": challenge}
        self.body = body

    def json(self) -> Any:
        if self.body is None:
            raise ValueError("no JSON")
        return self.body


def oidc(token: str) -> Auth:
    return Auth(type="oidc_access_token", auth_url="https://k.example/v3",
                identity_provider="egi.eu", access_token=token, project_name="vo")


def entitled(*vos: str) -> str:
    return jwt({"sub": "u", "eduperson_entitlement": [
        f"urn:mace:egi.eu:group:{vo}:role=member#aai.egi.eu" for vo in vos]})


KEYSTONE = 'Keystone uri="https://k.example/v3"'


def test_the_fronts_bearer_challenge_is_quoted() -> None:
    answer = Answer('Bearer realm="egi.eu", error="invalid_token", '
                    'error_description="the token has expired"')
    assert unauthorized(answer, oidc(entitled("a"))) == \
        "the site refused the access token (HTTP 401: the token has expired)"


def test_keystones_silence_is_explained_with_the_entitled_vos() -> None:
    token = entitled("a.vo", "b.vo", "a.vo", "c", "d", "e", "f", "g")
    line = unauthorized(Answer(KEYSTONE), oidc(token))
    assert line.endswith("matches no rule of Keystone's mapping for egi.eu (the token's "
                         "entitlements are for: a.vo, b.vo, c, d, e and 2 more)")
    assert token not in line
    bare = unauthorized(Answer(KEYSTONE), oidc(jwt({"sub": "u"})))
    assert bare.endswith("(the token carries no eduperson_entitlement)")
    opaque = unauthorized(Answer(KEYSTONE), oidc("not-a-jwt"))
    assert opaque.endswith("mapping for egi.eu")


def test_an_unsupported_protocol_and_a_password_refusal() -> None:
    body = {"error": {"code": 401, "message": "Attempted to authenticate with an unsupported "
                      "method."}}
    assert unauthorized(Answer(KEYSTONE, body), oidc("x")).startswith(
        "this protocol is not enabled at this Keystone")
    password = Auth(auth_url="https://k.example/v3", username="u", password="p",
                    project_name="vo")
    assert unauthorized(Answer(KEYSTONE), password) == "credentials refused (HTTP 401)"
    assert unauthorized(None, None) == "credentials refused (HTTP 401)"
