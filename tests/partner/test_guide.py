"""docs/partner-guide.md keeps its promises: the Python recipe works, every error code is explained."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives import serialization

# The LTI launch's refusals are SsoErrors too; handler.entry_point imports them only with LTI on.
import handler.lti.deep_linking
import handler.lti.errors
import handler.lti.tool_key
from handler.config import load_token_policy
from handler.errors import SsoError
from handler.keys import HttpFetcher, JwksKeySource
from handler.tokens import TokenVerifier
from tests import doc_blocks, leakcheck
from tests.partner.conftest import AUDIENCE, ISSUER, KeyPair, run_make

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "partner-guide.md").read_text()
# Being added with one-time links; the guide documents it already.
EXTRA_CODES = {"link_already_used"}
# The npm package the Node.js recipe uses, installed by the test into its own directory.
JOSE = "jose@6"


def code_blocks(language: str) -> list[str]:
    return doc_blocks.code_blocks("docs/partner-guide.md", language)


def error_classes() -> list[type[SsoError]]:
    """Every error the service can answer with: ``SsoError`` and all its subclasses (LTI's included)."""
    assert handler.lti.errors.__all__ and issubclass(handler.lti.tool_key.ToolKeyUnavailable, SsoError)
    assert issubclass(handler.lti.deep_linking.ChoiceRefused, SsoError)  # loaded: deep linking's errors count
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
    policy = load_token_policy({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWT_JWKS_URL": url})
    keys = JwksKeySource(HttpFetcher(urllib3.PoolManager(retries=False)), policy.issuers, policy.jwks_url)
    verified = TokenVerifier(policy, keys).verify(value)
    assert verified.partner_id == "recipe-user"
    assert verified.profile == {"first_name": first, "last_name": last, "email": email}
    assert verified.redirect_to == "/members/curriculum?chapter=6"
    assert verified.jti is not None
    assert verified.expires_at - jwt.decode(value, options={"verify_signature": False})["iat"] == 120


def verifier_for(pair: KeyPair, serve_json: Callable[[dict[str, Any]], str]) -> TokenVerifier:
    url = serve_json({"/.well-known/jwks.json": pair.jwks}) + "/.well-known/jwks.json"
    policy = load_token_policy({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE, "JWT_JWKS_URL": url})
    keys = JwksKeySource(HttpFetcher(urllib3.PoolManager(retries=False)), policy.issuers, policy.jwks_url)
    return TokenVerifier(policy, keys)


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``jose`` from npm in its own node_modules (never a global install)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "the Node.js recipe test needs node and npm on PATH"
    directory = tmp_path_factory.mktemp("node-recipe")
    (directory / "package.json").write_text('{"private": true, "type": "module"}\n')
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", JOSE],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return directory


@pytest.mark.parametrize("pair_name", ["rsa_pair", "ec_pair"])
def test_the_node_recipe_mints_a_token_the_verifier_accepts(
    pair_name: str,
    request: pytest.FixtureRequest,
    node_project: Path,
    serve_json: Callable[[dict[str, Any]], str],
) -> None:
    pair: KeyPair = request.getfixturevalue(pair_name)
    [recipe] = code_blocks("js")[:1]
    assert 'import { SignJWT, importPKCS8 } from "jose"' in recipe
    # The guide says: an ES module, saved as .mjs. Run exactly that, from a second module.
    (node_project / "big-interview-token.mjs").write_text(recipe)
    (node_project / "main.mjs").write_text(
        'import { bigInterviewToken } from "./big-interview-token.mjs";\n'
        "process.stdout.write(await bigInterviewToken(JSON.parse(process.argv[2])));\n"
    )
    email, first, last = "node.recipe@example.edu", "Nodena", "Exemplar"
    leakcheck.register(email, first, last)
    arguments = {
        "kid": pair.kid, "issuer": ISSUER, "audience": AUDIENCE, "userId": "node-user", "email": email,
        "firstName": first, "lastName": last, "redirectTo": "/members/curriculum?chapter=6",
    }  # fmt: skip
    environment = {
        **os.environ,
        "BI_SSO_PRIVATE_KEY_PEM": pair.private_path.read_text(),
        "BI_SSO_ALG": pair.alg,
    }

    result = subprocess.run(
        ["node", "main.mjs", json.dumps(arguments)],
        cwd=node_project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    value = result.stdout
    leakcheck.register(value)

    assert result.returncode == 0, result.stderr
    assert jwt.get_unverified_header(value) == {"alg": pair.alg, "kid": pair.kid, "typ": "JWT"}
    verified = verifier_for(pair, serve_json).verify(value)
    assert verified.partner_id == "node-user"
    assert verified.profile == {"first_name": first, "last_name": last, "email": email}
    assert verified.redirect_to == "/members/curriculum?chapter=6"
    assert verified.jti is not None
    assert verified.expires_at - jwt.decode(value, options={"verify_signature": False})["iat"] == 120


def test_every_troubleshooting_row_has_the_anchor_error_pages_link_to() -> None:
    section = GUIDE.split("## 8. Troubleshooting", 1)[1]
    rows = re.findall(r"^\| `([a-z_]+)` \| \d{3} \| <a id=\"([a-z_]+)\"></a>", section, flags=re.M)

    assert rows and all(code == anchor for code, anchor in rows)
    assert {code for code, _ in rows} == set(troubleshooting_rows())


def test_the_answers_table_lists_every_code_with_its_status() -> None:
    page = (ROOT / "docs" / "sign-in.md").read_text()
    section = page.split("## Answers", 1)[1].split("\n\n", 2)[1]
    listed = {
        code: status
        for status, codes in re.findall(r"^\| (\d{3}) \| ([^|]*) \|", section, flags=re.M)
        for code in re.findall(r"`([a-z_]+)`", codes)
    }

    assert {cls.code: str(cls.status) for cls in error_classes()} == listed


def test_troubleshooting_explains_every_error_code_with_its_status() -> None:
    documented = troubleshooting_rows()

    # The LTI launch's own codes are explained to the LMS administrator in docs/lti.md (tests/lti).
    partner_classes = [cls for cls in error_classes() if not cls.__module__.startswith("handler.lti")]
    missing = ({cls.code for cls in partner_classes} | EXTRA_CODES) - set(documented)
    assert not missing, f"codes without a troubleshooting row: {sorted(missing)}"
    for cls in partner_classes:
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
    policy = load_token_policy({"JWT_ISSUER": ISSUER, "JWT_AUDIENCE": "a"})
    assert f"≤ {policy.max_age_seconds} s" in GUIDE
    assert f"{policy.leeway_seconds} s leeway" in GUIDE


def test_the_readme_links_to_the_guide() -> None:
    assert "(docs/partner-guide.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("target", ["keys", "token", "check-link"])
def test_the_guides_make_targets_exist(target: str) -> None:
    assert f"make {target}" in GUIDE
    assert run_make("-n", target).returncode == 0
