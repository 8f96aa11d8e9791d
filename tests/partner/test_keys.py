"""``make keys``: the private key's file mode, the JWKS's shape, the RFC 7638 kid, no overwrite."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from jwt import PyJWK

from handler.keys import check_key_fits
from infra.partner import keys
from tests.partner.conftest import KeyPair, run_make

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC_7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
        "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
        "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
        "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
        "Cur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC_7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = keys.main(list(argv))
    return status, out.getvalue()


def test_rfc_7638_example_thumbprint() -> None:
    assert keys.jwk_thumbprint(RFC_7638_JWK) == RFC_7638_THUMBPRINT
    # Only the required members count: alg, kid, use change nothing.
    assert keys.jwk_thumbprint({**RFC_7638_JWK, "use": "sig", "kid": "other"}) == RFC_7638_THUMBPRINT


def test_thumbprint_of_an_unknown_key_type_is_refused() -> None:
    with pytest.raises(ValueError, match="kty"):
        keys.jwk_thumbprint({"kty": "oct", "k": "c2VjcmV0"})


def test_rs256_key_pair(tmp_path: Path) -> None:
    status, output = run("--out", str(tmp_path / "keys"))

    private_path, jwks_path = tmp_path / "keys" / "private-key.pem", tmp_path / "keys" / "jwks.json"
    assert status == 0
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    document = json.loads(jwks_path.read_text())
    [jwk] = document["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert jwk["kid"] == keys.jwk_thumbprint(jwk)
    assert PyJWK(jwk).key.key_size == 2048
    check_key_fits(jwk, "RS256")  # the service would take it
    assert jwk["kid"] in output
    assert "PRIVATE" not in output


def test_es256_key_pair(tmp_path: Path) -> None:
    status, _ = run("--alg", "ES256", "--out", str(tmp_path))

    [jwk] = json.loads((tmp_path / "jwks.json").read_text())["keys"]
    assert status == 0
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert jwk["kid"] == keys.jwk_thumbprint(jwk)
    check_key_fits(jwk, "ES256")
    assert stat.S_IMODE((tmp_path / "private-key.pem").stat().st_mode) == 0o600


def test_the_private_key_is_created_0600_never_chmod_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: dict[str, int] = {}
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        modes[Path(path).name] = mode
        return real_open(path, flags, mode, **kwargs)

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("chmod after writing leaves a window where the key is readable")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    old_umask = os.umask(0)  # even with a permissive umask, the key is never group/world readable
    try:
        status, _ = run("--out", str(tmp_path))
    finally:
        os.umask(old_umask)

    assert status == 0
    assert modes["private-key.pem"] == 0o600
    assert stat.S_IMODE((tmp_path / "private-key.pem").stat().st_mode) == 0o600


def test_refuses_to_overwrite_an_existing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--out", str(tmp_path))[0] == 0
    before = (tmp_path / "private-key.pem").read_bytes(), (tmp_path / "jwks.json").read_bytes()

    status, _ = run("--out", str(tmp_path))

    assert status == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert ((tmp_path / "private-key.pem").read_bytes(), (tmp_path / "jwks.json").read_bytes()) == before


def test_refuses_when_only_the_jwks_exists(tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text('{"keys": []}')

    assert run("--out", str(tmp_path))[0] == 1
    assert not (tmp_path / "private-key.pem").exists()


def test_unknown_algorithm_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("--alg", "HS256", "--out", str(tmp_path))
    assert exit_info.value.code == 2


def test_load_private_key_round_trips(rsa_pair: KeyPair) -> None:
    assert keys.public_jwk(rsa_pair.private) == rsa_pair.jwks["keys"][0]


def test_make_keys(tmp_path: Path) -> None:
    result = run_make("keys", "ALG=ES256", f"OUT={tmp_path}/partner keys")

    assert result.returncode == 0, result.stderr
    [jwk] = json.loads((tmp_path / "partner keys" / "jwks.json").read_text())["keys"]
    assert jwk["alg"] == "ES256"
    assert f"kid:         {jwk['kid']}" in result.stdout
    assert stat.S_IMODE((tmp_path / "partner keys" / "private-key.pem").stat().st_mode) == 0o600
    again = run_make("keys", f"OUT={tmp_path}/partner keys")
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
