"""``make keys``: a partner signing key pair, its public JWKS, and its ``kid``.

    python -m infra.partner.keys [--alg RS256|ES256] [--out keys/]

Writes ``private-key.pem`` (PKCS#8, mode 0600, never overwritten) and
``jwks.json`` (the public key, ready to host). The ``kid`` is the key's RFC 7638
thumbprint, so it is derived from the key itself: two different keys can never
share a ``kid``, and ``make token KEY=…`` can recompute it without being told.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALGORITHMS = ("RS256", "ES256")
PRIVATE_KEY_FILE = "private-key.pem"
JWKS_FILE = "jwks.json"
# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: base64url of the hash of the required members' canonical JSON."""
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"no RFC 7638 thumbprint for kty {jwk.get('kty')!r}")
    # sort_keys + no whitespace is RFC 7638's canonical form for these ASCII-only members.
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def algorithm_for(private_key: object) -> str:
    """The one algorithm a key signs with here: RS256 for RSA, ES256 for P-256."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("only RSA (RS256) and EC P-256 (ES256) private keys are supported")


def public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    """The public JWK with ``kid`` (thumbprint), ``alg`` and ``use: sig``, as the service expects."""
    alg = algorithm_for(private_key)
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    # Only the key's own members: PyJWT adds key_ops, which RFC 7517 §4.3 says not to combine with use.
    members = {"kty": jwk["kty"], **{name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}}
    # alg pins the key to one algorithm (the service refuses any other with it).
    return {**members, "kid": jwk_thumbprint(members), "alg": alg, "use": "sig"}


def generate(alg: str) -> PrivateKey:
    """A new private key for ``alg``."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"alg must be one of {ALGORITHMS}, got {alg!r}")


def load_private_key(path: Path) -> PrivateKey:
    """A private key from an unencrypted PEM file (as ``make keys`` writes it)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    algorithm_for(key)  # refuses key types we cannot sign with
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte; fail if it exists.

    O_EXCL makes "never overwrite" atomic, and giving the mode to ``os.open``
    means the private key is never readable by others, not even between a write
    and a later chmod.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def write_key_pair(alg: str, out: Path) -> tuple[Path, Path, str]:
    """Generate and write the pair; returns (private key path, JWKS path, kid)."""
    private_path, jwks_path = out / PRIVATE_KEY_FILE, out / JWKS_FILE
    for path in (private_path, jwks_path):
        if path.exists():
            raise FileExistsError(path)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_key = generate(alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = public_jwk(private_key)
    _write_new(private_path, pem, 0o600)
    _write_new(jwks_path, (json.dumps({"keys": [jwk]}, indent=2) + "\n").encode(), 0o644)
    return private_path, jwks_path, str(jwk["kid"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make keys", description="Generate a partner signing key pair and its public JWKS."
    )
    parser.add_argument("--alg", default="RS256", choices=ALGORITHMS, help="RS256 (default) or ES256")
    parser.add_argument("--out", default="keys", type=Path, help="output directory (default: keys/)")
    args = parser.parse_args(argv)
    try:
        private_path, jwks_path, kid = write_key_pair(args.alg, args.out)
    except FileExistsError as error:
        print(
            f"{error.args[0]} already exists: refusing to overwrite a key. "
            "Move it away first, or choose another directory with OUT=...",
            file=sys.stderr,
        )
        return 1
    print(f"alg:         {args.alg}")
    print(f"kid:         {kid}  (RFC 7638 thumbprint of the public key)")
    print(f"private key: {private_path}  (mode 0600; keep it secret, never commit it)")
    print(f"public JWKS: {jwks_path}  (host it over https; set JWT_JWKS_URL to its URL)")
    print()
    print(f"Try it: make token USER=abc123 KEY={private_path} ISS=<your issuer>")
    print(f"        make check-link URL=<the link> JWKS={jwks_path} ISS=<your issuer>")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
