"""Project Wycheproof's JWS and JWK vectors through our verifier's signature layer.

How the vectors reach our code, and why only the signature layer, is explained
in ``wycheproof_runner.py`` and in ``docs/security.md`` ("Wycheproof"). Every
vector Wycheproof calls invalid must be refused; every vector where we differ
from Wycheproof's verdict must be listed, with its reason, in the deviations
table of ``docs/security.md`` (``test_deviations_table_lists_exactly_the_deviating_vectors``
keeps that table from going stale). The figures are written to
``build/wycheproof.json``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3
from pytest_httpserver import HTTPServer

from tests.conftest import Sso
from tests.security.tokens import b64, forge, hs256, swap_signature
from tests.security.wycheproof_runner import (
    Outcome,
    Vector,
    build_verifier,
    jwks_for,
    load_vectors,
    outcome_of,
)
from tests.support import SigningKey, claims, http_event, mint

REPO_ROOT = Path(__file__).resolve().parents[2]
SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
FIGURES = REPO_ROOT / "build" / "wycheproof.json"
VECTORS = load_vectors()
BY_ID = {vector.id: vector for vector in VECTORS}
# Two "invalid" vectors whose stored token is byte-for-byte a "valid" vector's token
# (the file lost whatever padding change they describe): no verifier can refuse one
# and accept the other. Proven by test_defective_vectors_repeat_a_valid_token.
DEFECTIVE = {"jws-367": "jws-357", "jws-370": "jws-357"}
TABLE_ROW = re.compile(
    r"^\|\s*`((?:jws|jwk)-\d+)`\s*\|[^|]*\|\s*(valid|invalid|acceptable)\s*\|\s*`([^`]+)`\s*\|"
)


@pytest.fixture(scope="module")
def outcomes(_jwks_server: HTTPServer, ca_file: Path) -> Iterator[dict[str, Outcome]]:
    """Every vector, each against a fresh verifier whose JWKS URL serves the vector's keyset."""
    http = urllib3.PoolManager(ca_certs=str(ca_file), retries=False)
    results = {}
    try:
        for vector in VECTORS:
            path = f"/wycheproof/{vector.id}.json"
            _jwks_server.expect_request(path).respond_with_json(jwks_for(vector))
            verifier = build_verifier(vector, _jwks_server.url_for(path), http)
            results[vector.id] = outcome_of(verifier, vector.token)
    finally:
        # At once, not at the module's end: the module's other tests share this server and
        # check that its log holds nothing but their own JWKS requests, in whatever order.
        _jwks_server.clear()
    yield results


def deviations(outcomes: dict[str, Outcome]) -> dict[str, Outcome]:
    return {
        vector.id: outcomes[vector.id]
        for vector in VECTORS
        if outcomes[vector.id].accepted != (vector.result == "valid") and vector.result != "acceptable"
    }


def documented_deviations() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in SECURITY_DOC.read_text().splitlines():
        if match := TABLE_ROW.match(line):
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def vector_param(vector: Vector) -> Any:
    return pytest.param(vector, id=f"{vector.id}-{vector.comment}")


INVALID = [vector_param(v) for v in VECTORS if v.result == "invalid" and v.id not in DEFECTIVE]
VALID = [vector_param(v) for v in VECTORS if v.result == "valid"]


@pytest.mark.parametrize("vector", INVALID)
def test_invalid_vector_is_refused(outcomes: dict[str, Outcome], vector: Vector) -> None:
    outcome = outcomes[vector.id]
    assert not outcome.accepted, f"{vector.id} ({vector.comment}) accepted"
    assert not outcome.code.startswith("crash:"), f"{vector.id} raised outside SsoError: {outcome}"


@pytest.mark.parametrize("vector", VALID)
def test_valid_vector_is_accepted_or_a_documented_deviation(
    outcomes: dict[str, Outcome], vector: Vector
) -> None:
    outcome = outcomes[vector.id]
    documented = documented_deviations()
    if outcome.accepted:
        assert vector.id not in documented, f"{vector.id} is accepted but listed as a deviation"
    else:
        assert not outcome.code.startswith("crash:"), outcome
        assert documented.get(vector.id) == ("valid", outcome.code), (
            f"{vector.id} ({vector.comment}) refused with {outcome.code}: {outcome.detail}; "
            "not in the deviations table of docs/security.md"
        )


def test_defective_vectors_repeat_a_valid_token(outcomes: dict[str, Outcome]) -> None:
    for defective, valid in DEFECTIVE.items():
        assert BY_ID[defective].token == BY_ID[valid].token
        assert (BY_ID[defective].result, BY_ID[valid].result) == ("invalid", "valid")
        assert outcomes[defective] == outcomes[valid]


def test_deviations_table_lists_exactly_the_deviating_vectors(outcomes: dict[str, Outcome]) -> None:
    found = {vector_id: (BY_ID[vector_id].result, o.code) for vector_id, o in deviations(outcomes).items()}
    assert documented_deviations() == found


def test_figures_are_written_and_no_invalid_vector_is_accepted_unexplained(
    outcomes: dict[str, Outcome],
) -> None:
    counts: Counter[str] = Counter()
    for vector in VECTORS:
        verdict = "accepted" if outcomes[vector.id].accepted else "refused"
        counts[f"{vector.result}-{verdict}"] += 1
    invalid_accepted = sorted(v.id for v in VECTORS if v.result == "invalid" and outcomes[v.id].accepted)
    figures = {
        "vectors": len(VECTORS),
        "valid_accepted": counts["valid-accepted"],
        "valid_refused": counts["valid-refused"],
        "invalid_refused": counts["invalid-refused"],
        "invalid_accepted": counts["invalid-accepted"],
        "invalid_accepted_ids": invalid_accepted,
        "defective_vectors": DEFECTIVE,
        "refusal_codes": dict(Counter(o.code for o in outcomes.values() if not o.accepted)),
    }
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nWycheproof: {json.dumps({k: figures[k] for k in list(figures)[:6]})}")
    assert sorted(set(invalid_accepted) - set(DEFECTIVE)) == []


# ---- the runner is the verifier: the signature layer and verify() agree on our own tokens -------------
@pytest.fixture
def verifier_pair(
    base_env: dict[str, str], ca_file: Path, jwks: Any
) -> Callable[[str], tuple[Outcome, Outcome]]:
    from handler.config import load_config
    from handler.errors import SsoError
    from handler.keys import HttpFetcher, JwksKeySource
    from handler.tokens import TokenVerifier

    http = urllib3.PoolManager(ca_certs=str(ca_file), retries=False)

    def both(token: str) -> tuple[Outcome, Outcome]:
        policy = load_config(base_env).partner.tokens
        layer = outcome_of(
            TokenVerifier(policy, JwksKeySource(HttpFetcher(http), policy.issuers, policy.jwks_url)), token
        )
        full_verifier = TokenVerifier(
            policy, JwksKeySource(HttpFetcher(http), policy.issuers, policy.jwks_url)
        )
        try:
            full_verifier.verify(token)
            full = Outcome(True, "accepted")
        except SsoError as error:
            full = Outcome(False, error.code, error.detail[:120])
        return layer, full

    return both


def own_tokens(rsa_key: SigningKey, ec_key: SigningKey) -> dict[str, str]:
    valid = mint(rsa_key)
    header, _, signature = valid.split(".")
    return {
        "valid-rs256": valid,
        "valid-es256": mint(ec_key),
        "tampered-payload": f"{header}.{b64(json.dumps(claims(sub='admin')))}.{signature}",
        "other-signature": swap_signature(valid, mint(rsa_key).rsplit(".", 1)[1]),
        "empty-signature": swap_signature(valid, ""),
        "alg-none": forge({"alg": "none", "kid": rsa_key.kid}, claims(), "c2ln"),
        "unknown-kid": mint(rsa_key, headers={"kid": "nope"}),
        "hs256-with-public-jwk": hs256(
            {"alg": "HS256", "kid": rsa_key.kid}, claims(), json.dumps(rsa_key.jwk).encode()
        ),
        "psychic-es256": forge({"alg": "ES256", "kid": ec_key.kid}, claims(), b64(bytes(64))),
        "crit": mint(rsa_key, headers={"crit": ["exp"]}),
        "rs256-key-as-ps256": jwt.encode(
            claims(), rsa_key.private, algorithm="PS256", headers={"kid": rsa_key.kid}
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "valid-rs256",
        "valid-es256",
        "tampered-payload",
        "other-signature",
        "empty-signature",
        "alg-none",
        "unknown-kid",
        "hs256-with-public-jwk",
        "psychic-es256",
        "crit",
        "rs256-key-as-ps256",
    ],
)
def test_signature_layer_agrees_with_the_full_verifier(
    verifier_pair: Callable[[str], tuple[Outcome, Outcome]],
    rsa_key: SigningKey,
    ec_key: SigningKey,
    name: str,
) -> None:
    layer, full = verifier_pair(own_tokens(rsa_key, ec_key)[name])

    assert (layer.accepted, layer.code) == (full.accepted, full.code)


# ---- the keys behind two invalid JWK vectors, re-used to sign a real sign-in link ----------------------
def vector_private_key(group_comment: str) -> dict[str, Any]:
    document = json.loads((Path(__file__).parent / "wycheproof" / "json_web_key_test.json").read_text())
    group = next(g for g in document["testGroups"] if g["comment"] == group_comment)
    private = group["private"]
    return dict(private["keys"][0] if "keys" in private else private)


# PyJWT warns when it signs with the weak key: signing with it is the point of the test.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rsa_key_shorter_than_2048_bits_is_refused(
    make_secured: Callable[..., Sso], assert_refused: Callable[..., None]
) -> None:
    private = vector_private_key("keysize_too_small")
    public = {k: v for k, v in private.items() if k in ("kty", "use", "alg", "n", "e", "kid")}
    sso = make_secured(jwks={"keys": [public]})
    key = jwt.PyJWK(private, algorithm="RS256").key
    token = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": private["kid"]})

    assert_refused(sso(http_event(query={"jwt": token})), status=401)


def test_rsa_key_with_the_roca_fingerprint_is_refused(
    make_secured: Callable[..., Sso], assert_refused: Callable[..., None]
) -> None:
    private = vector_private_key("jws_rsa_roca_key")
    public = {k: v for k, v in private.items() if k in ("kty", "use", "alg", "n", "e", "kid")}
    sso = make_secured(jwks={"keys": [public]})
    key = jwt.PyJWK(private, algorithm="RS256").key
    token = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": private["kid"]})

    assert_refused(sso(http_event(query={"jwt": token})), status=401)
