"""docs/partner-guide.md keeps its promises: the Python recipe works, every error code is explained."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives import serialization

from handler.config import load_config
from handler.errors import SsoError
from handler.keys import JwksKeySource
from handler.tokens import TokenVerifier
from tests import leakcheck
from tests.partner.conftest import AUDIENCE, ISSUER, KeyPair, run_make

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "partner-guide.md").read_text()
# Being added with one-time links; the guide documents it already.
EXTRA_CODES = {"link_already_used"}


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.S)


def error_classes() -> list[type[SsoError]]:
    """Every error the service can answer with: ``SsoError`` and all its subclasses."""
    found: list[type[SsoError]] = []
    pending: list[type[SsoError]] = [SsoError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def troubleshooting_rows() -> dict[str, str]:
    """``code -> status`` from the troubleshooting table."""
    section = GUIDE.split("## 8. Troubleshooting", 1)[1]
    return dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", section, flags=re.M))


@pytest.mark.parametrize("pair_name", ["rsa_pair", "ec_pair"])
def test_the_python_recipe_mints_a_token_the_verifier_accepts(
    pair_name: str, request: pytest.FixtureRequest, serve_json: Callable[[dict[str, Any]], str]
) -> None:
    pair: KeyPair = request.getfixturevalue(pair_name)
    namespace: dict[str, Any] = {}
    exec(code_blocks("python")[0], namespace)  # noqa: S102 - the guide's own example, run as written
    mint: Callable[..., str] = namespace["big_interview_token"]
    pem = pair.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    email, first, last = "recipe.user@example.edu", "Recipena", "Exemplar"
    leakcheck.register(email, first, last)

    value = mint(
        pem, pair.kid, ISSUER, AUDIENCE, "recipe-user", email, first, last,
        redirect_to="/members/curriculum?chapter=6", algorithm=pair.alg,
    )  # fmt: skip
    leakcheck.register(value)

    url = serve_json({"/.well-known/jwks.json": pair.jwks}) + "/.well-known/jwks.json"
    config = load_config(
        {
            "BI_ORG": "xyz",
            "BI_API_KEY_SECRET_ID": "unused",
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_JWKS_URL": url,
        }
    )
    keys = JwksKeySource(urllib3.PoolManager(retries=False), config.issuers, config.jwks_url)
    verified = TokenVerifier(config, keys).verify(value)
    assert verified.partner_id == "recipe-user"
    assert verified.profile == {"first_name": first, "last_name": last, "email": email}
    assert verified.redirect_to == "/members/curriculum?chapter=6"
    assert verified.jti is not None
    assert verified.expires_at - jwt.decode(value, options={"verify_signature": False})["iat"] == 120


def test_troubleshooting_explains_every_error_code_with_its_status() -> None:
    documented = troubleshooting_rows()

    missing = ({cls.code for cls in error_classes()} | EXTRA_CODES) - set(documented)
    assert not missing, f"codes without a troubleshooting row: {sorted(missing)}"
    for cls in error_classes():
        assert documented[cls.code] == str(cls.status), cls.code
    assert documented["link_already_used"] == "401"


def test_the_guide_states_the_services_limits() -> None:
    from handler.redirects import MAX_REDIRECT_TO_BYTES
    from handler.tokens import MAX_JTI_LENGTH, MAX_TOKEN_BYTES, PROFILE_CLAIMS

    assert MAX_TOKEN_BYTES == 8 * 1024 and "8 KiB" in GUIDE
    assert MAX_REDIRECT_TO_BYTES == 2048 and "2 KiB" in GUIDE
    assert MAX_JTI_LENGTH == 256 and "1 to 256 characters" in GUIDE
    for claim, (_, limit) in PROFILE_CLAIMS.items():
        assert re.search(rf"^\| `{claim}` \|.*≤ {limit} characters", GUIDE, flags=re.M), claim
    config = load_config(
        {"BI_ORG": "x", "BI_API_KEY_SECRET_ID": "s", "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": "a"}
    )
    assert f"≤ {config.max_age_seconds} s" in GUIDE
    assert f"{config.leeway_seconds} s leeway" in GUIDE


def test_the_readme_links_to_the_guide() -> None:
    assert "(docs/partner-guide.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("target", ["keys", "token", "check-link"])
def test_the_guides_make_targets_exist(target: str) -> None:
    assert f"make {target}" in GUIDE
    assert run_make("-n", target).returncode == 0
