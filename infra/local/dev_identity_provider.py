"""A development identity provider: the partner side of the SSO flow.

At start it makes an RS256 key pair (``kid`` = RFC 7638 thumbprint) and serves:

- ``/.well-known/openid-configuration`` and ``/.well-known/jwks.json``, so the
  handler exercises OIDC discovery exactly as it would against a real partner;
- ``/`` - a demo partner page: type a user id, names, email and an optional
  ``redirect_to``, then sign in by form POST (recommended) or by link (GET);
- ``/sign-in`` (GET or POST) - mints a fresh JWT and sends the browser to the
  API: an auto-submitting form POST to ``{api}/sso``, or a 303 to
  ``{api}/sso?jwt=...`` with ``style=link``. Because it mints on every visit, a
  ``/sign-in?sub=...`` link never goes stale;
- ``/token?sub=...`` - JSON ``{"jwt": ..., "sso_url": ...}``, for tests and scripts.

Tokens carry ``iss`` (this server's URL), ``aud``, ``sub``, ``iat``, ``exp`` (+120 s),
``jti``, and ``given_name``/``family_name``/``email``/``redirect_to`` when given.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from infra.local.http_server import BackgroundHTTPServer, LoopbackService, QuietHandler, first, html_page
from infra.partner.keys import jwk_thumbprint

DEFAULT_AUDIENCE = "big-interview-sso"
DEFAULT_TOKEN_LIFETIME_SECONDS = 120
PROFILE_CLAIMS = ("given_name", "family_name", "email", "redirect_to")


class DevIdentityProvider(LoopbackService):
    """The development IdP. ``api_url`` is where sign-ins are sent; it may be set after start."""

    def __init__(
        self,
        api_url: str = "",
        audience: str = DEFAULT_AUDIENCE,
        port: int = 0,
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        # Browsers check a form's CSP form-action against every redirect that
        # follows the submit, so the sign-in forms must also allow the origins the
        # API redirects to (Big Interview; ERROR_REDIRECT_URL). The stack sets it.
        self.redirect_origins: tuple[str, ...] = ()
        self.audience = audience
        self.token_lifetime_seconds = token_lifetime_seconds
        # 2048-bit RSA: the common partner choice, and quick enough to make per start.
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        self.kid = jwk_thumbprint(public_jwk)
        self._public_jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}
        self._http = BackgroundHTTPServer(_handler_class_for(self), port)

    # -- public documents ----------------------------------------------------
    @property
    def issuer(self) -> str:
        """The ``iss`` of every token: this server's base URL (as OIDC discovery requires)."""
        return self.url

    @property
    def jwks_url(self) -> str:
        """Where the public key set is served."""
        return f"{self.url}/.well-known/jwks.json"

    @property
    def jwks(self) -> dict[str, Any]:
        """The public key set document."""
        return {"keys": [dict(self._public_jwk)]}

    def openid_configuration(self) -> dict[str, Any]:
        """The OIDC discovery document (only the members a verifier needs)."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        }

    # -- minting -------------------------------------------------------------
    def mint_token(
        self,
        sub: str,
        *,
        given_name: str | None = None,
        family_name: str | None = None,
        email: str | None = None,
        redirect_to: str | None = None,
        lifetime_seconds: int | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed RS256 JWT for ``sub``; ``extra_claims`` override any claim (for negative tests)."""
        now = int(time.time())
        lifetime = self.token_lifetime_seconds if lifetime_seconds is None else lifetime_seconds
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        profile = {
            "given_name": given_name,
            "family_name": family_name,
            "email": email,
            "redirect_to": redirect_to,
        }
        claims.update({name: value for name, value in profile.items() if value})
        claims.update(extra_claims or {})
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid})

    def form_action(self, *sources: str) -> str:
        """The CSP ``form-action`` for a sign-in form: ``sources``, the API and where it redirects."""
        allowed = [*sources, *(origin for origin in (self.api_url, *self.redirect_origins) if origin)]
        return "form-action " + (" ".join(dict.fromkeys(allowed)) or "'none'")

    def sso_link(self, token: str) -> str:
        """The GET-style sign-in URL on the API for ``token``."""
        return f"{self.api_url}/sso?{urlencode({'jwt': token})}"

    def sign_in_link(self, sub: str, **profile: str) -> str:
        """A link to this IdP that mints a fresh token on each visit and follows it (GET style)."""
        query = {"sub": sub, **{k: v for k, v in profile.items() if v}, "style": "link"}
        return f"{self.url}/sign-in?{urlencode(query)}"


def _demo_page() -> str:
    """The demo partner page: a labelled form, usable without a mouse or script."""

    def field(
        name: str, label: str, kind: str = "text", value: str = "", required: bool = False, hint: str = ""
    ) -> str:
        hint_id = f"{name}-hint"
        described = f' aria-describedby="{hint_id}"' if hint else ""
        hint_html = f'<br><small id="{hint_id}">{html.escape(hint)}</small>' if hint else ""
        required_attr = " required" if required else ""
        return (
            f'<p><label for="{name}">{html.escape(label)}</label><br>'
            f'<input id="{name}" name="{name}" type="{kind}" value="{html.escape(value)}"'
            f"{required_attr}{described}>{hint_html}</p>"
        )

    form = (
        '<form method="post" action="/sign-in">\n'
        + field(
            "sub",
            "User id (partner_id)",
            value="demo-user",
            required=True,
            hint="Letters, digits, - and _ only; 1 to 64 characters.",
        )
        + field("given_name", "First name", value="Dana")
        + field("family_name", "Last name", value="Demo")
        + field("email", "Email", kind="email", value="dana.demo@example.com")
        + field(
            "redirect_to",
            "Redirect to (optional)",
            hint="A relative Big Interview path, e.g. /members/curriculum?chapter=6",
        )
        + "<fieldset><legend>How to send the token</legend>\n"
        '<p><input type="radio" id="style-post" name="style" value="post" checked>'
        ' <label for="style-post">Form POST (recommended: keeps the token out of URLs and logs)</label></p>\n'
        '<p><input type="radio" id="style-link" name="style" value="link">'
        ' <label for="style-link">Link (GET /sso?jwt=...)</label></p>\n</fieldset>\n'
        '<p><button type="submit">Sign in to Big Interview</button></p>\n</form>'
    )
    return html_page(
        "Demo partner - development identity provider",
        "<h1>Demo partner portal</h1>\n"
        "<p>Sign a user in to Big Interview through the SSO redirector.</p>\n" + form,
    )


def _auto_post_page(action: str, token: str, nonce: str) -> str:
    """A page whose form carries the token to the API and submits itself."""
    body = (
        f'<form method="post" action="{html.escape(action)}">\n'
        f'<input type="hidden" name="jwt" value="{html.escape(token)}">\n'
        "<p>Signing you in to Big Interview...</p>\n"
        '<noscript><p><button type="submit">Continue</button></p></noscript>\n</form>\n'
        f'<script nonce="{nonce}">document.forms[0].submit();</script>'
    )
    return html_page("Signing in...", body)


def _handler_class_for(idp: DevIdentityProvider) -> type[QuietHandler]:
    """A request handler class bound to ``idp``."""

    class IdentityProviderRequestHandler(QuietHandler):
        server_version = "dev-identity-provider"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/.well-known/openid-configuration":
                self.send_json(200, idp.openid_configuration())
            elif parts.path == "/.well-known/jwks.json":
                self.send_json(200, idp.jwks, [("Cache-Control", "max-age=300")])
            elif parts.path == "/":
                # The link style answers the form with a 303 to the API: a redirect the form-action covers.
                form_action = idp.form_action("'self'")
                csp = f"default-src 'none'; {form_action}; frame-ancestors 'none'"
                self.send_html(200, _demo_page(), csp=csp)
            elif parts.path == "/token":
                self._token(query)
            elif parts.path == "/sign-in":
                self._sign_in(query)
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/sign-in":
                self.send_json(404, {"error": "not found"})
                return
            self._sign_in(parse_qs(self.read_body().decode("utf-8", "replace")))

        def _mint(self, query: dict[str, list[str]]) -> str | None:
            sub = (first(query, "sub") or "").strip()
            if not sub:
                return None
            profile = {name: (first(query, name) or "").strip() or None for name in PROFILE_CLAIMS}
            return idp.mint_token(
                sub,
                given_name=profile["given_name"],
                family_name=profile["family_name"],
                email=profile["email"],
                redirect_to=profile["redirect_to"],
            )

        def _token(self, query: dict[str, list[str]]) -> None:
            token = self._mint(query)
            if token is None:
                self.send_json(400, {"error": "sub is required"})
                return
            self.send_json(
                200, {"jwt": token, "sso_url": idp.sso_link(token)}, [("Cache-Control", "no-store")]
            )

        def _sign_in(self, query: dict[str, list[str]]) -> None:
            token = self._mint(query)
            if token is None:
                self.send_html(
                    400,
                    html_page("User id required", '<h1>User id required</h1>\n<p><a href="/">Back</a></p>'),
                )
                return
            if first(query, "style") == "link":
                self.send(303, headers=[("Location", idp.sso_link(token)), ("Cache-Control", "no-store")])
                return
            # The inline script is allowed by its nonce only, and the form may go only to the API
            # (and on along the API's redirect, to Big Interview).
            nonce = secrets.token_urlsafe(16)
            csp = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; {idp.form_action()}; frame-ancestors 'none'"
            )
            self.send_html(200, _auto_post_page(f"{idp.api_url}/sso", token, nonce), csp=csp)

    return IdentityProviderRequestHandler
