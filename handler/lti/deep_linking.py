"""Deep Linking 2.0: an instructor picks Big Interview content; the platform gets it back, signed.

A verified ``LtiDeepLinkingRequest`` (the launch's own checks: state, nonce, id_token,
``handler.lti.claims``) opens the picker (``DeepLinking.open``): a page of the catalogue's
destinations (``handler.lti.catalogue``) that needs no script. What the platform asked for
(``deep_linking_settings``: where to return, ``accept_types``, ``accept_multiple``,
``auto_create``, ``data``) is kept in the launch table under the SHA-256 of a random ticket,
for the state's lifetime; the page carries only the ticket, never the id_token. Its form post
(``DeepLinking.choose``) must come from this service's page (``Origin``), and uses the ticket
once: the choice is checked against the catalogue first, so a bad choice changes nothing.

The answer is an ``LtiDeepLinkingResponse`` (Deep Linking 2.0 §4.5) signed by the tool's KMS
key (``KmsToolKey.sign``): one ``ltiResourceLink`` per chosen destination, whose custom
parameter ``redirect_to`` carries the destination's path (the launch takes it through the
redirect rules, as any ``redirect_to``), with a ``lineItem`` when the instructor asks for a
grade. It goes to ``deep_link_return_url`` as the ``JWT`` field of a form the page posts
itself (a ``noscript`` button otherwise); the page's CSP lets its form go to that URL only.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from handler.config import LtiRegistration
from handler.errors import BadRequest, InvalidToken, ReplayStoreUnavailable
from handler.lti.catalogue import Catalogue, Item
from handler.lti.claims import CLAIM, VerifiedLaunch
from handler.lti.errors import LtiClaimRefused
from handler.lti.state import digest
from handler.lti.tool_key import KmsToolKey
from handler.replay import put_if_new, store_client
from handler.url_rules import url_problem

__all__ = [
    "CHOOSE_PATH",
    "ChoiceRefused",
    "ContentTypeNotAccepted",
    "DeepLinking",
    "Page",
    "PickerExpired",
    "Settings",
]

CHOOSE_PATH = "/lti/deep-link"
_DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CONTENT_ITEMS, DATA = _DL + "content_items", _DL + "data"
RESOURCE_LINK = "ltiResourceLink"
RESPONSE_SECONDS = 300  # the signed answer's lifetime: it is posted at once
SCORE_MAXIMUM = 100
_MAX_DATA = 2048  # characters of the request's data kept to echo back
_MAX_CHOICES = 15  # the form's parse keeps 20 fields (handler.request.form_fields)
TICKET_FIELD, ITEM_FIELD, GRADE_FIELD = "ticket", "item", "grade"


class ContentTypeNotAccepted(BadRequest):
    code = "lti_deep_linking_types"
    message = (
        "This place in your course accepts content Big Interview does not provide (it accepts no "
        "LTI links). Add Big Interview from the course's activity or external tool menu instead."
    )


class ChoiceRefused(BadRequest):
    code = "lti_deep_linking_choice"
    message = (
        "Big Interview could not use that choice. Go back to the previous page and choose "
        "from the list again."
    )


class PickerExpired(InvalidToken):
    code = "lti_deep_linking_expired"
    message = (
        "This list of Big Interview content was already used or has expired. Go back to your "
        "course and add Big Interview content again."
    )


@dataclass(frozen=True)
class Page:
    """An HTML answer with its own Content-Security-Policy."""

    body: str
    policy: str
    status: int = 200


@dataclass(frozen=True)
class Settings:
    """What the platform's ``deep_linking_settings`` ask for (Deep Linking 2.0 §4.4.1)."""

    return_url: str
    accept_multiple: bool
    auto_create: bool
    data: Any = None  # echoed unchanged when present
    has_data: bool = False

    @classmethod
    def parse(cls, claim: dict[str, Any]) -> Settings:
        return_url = claim.get("deep_link_return_url")
        if not isinstance(return_url, str) or url_problem(return_url) or not _fits_csp(return_url):
            raise LtiClaimRefused(
                "deep_link_return_url must be an absolute https URL without spaces, ';' or ','"
            )
        accept_types = claim.get("accept_types")
        if not isinstance(accept_types, list) or RESOURCE_LINK not in accept_types:
            # Nothing is signed: this placement cannot take an LTI link (Canvas's editor button may ask
            # for "link" or "html" only, for example).
            raise ContentTypeNotAccepted(
                f"accept_types {_shown(accept_types)} does not include {RESOURCE_LINK}",
                expected=RESOURCE_LINK,
                found=_shown(accept_types),
            )
        has_data = "data" in claim
        if has_data and len(json.dumps(claim["data"])) > _MAX_DATA:
            raise LtiClaimRefused(f"deep_linking_settings.data is longer than {_MAX_DATA} characters")
        return cls(
            return_url,
            accept_multiple=claim.get("accept_multiple") is True,
            auto_create=claim.get("auto_create") is True,
            data=claim.get("data"),
            has_data=has_data,
        )


@dataclass(frozen=True)
class _Context:
    """What a picker page's ticket stands for: the verified request's platform and settings."""

    issuer: str
    client_id: str
    deployment_id: str
    org: str
    launch_url: str
    settings: Settings

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> _Context:
        values = json.loads(text)
        return cls(**{**values, "settings": Settings(**values["settings"])})


class DeepLinking:
    """The picker and the signed answer, for the deployment's registrations."""

    def __init__(
        self,
        tool_key: KmsToolKey,
        catalogue: Catalogue,
        table_name: str,
        lifetime_seconds: int,
        client: Callable[[], Any],
    ) -> None:
        self._tool_key = tool_key
        self._catalogue = catalogue
        self._table_name = table_name
        self._lifetime = lifetime_seconds
        self._client = client

    # ---- the verified request: the picker ---------------------------------------------------
    def open(
        self, registration: LtiRegistration, claims: VerifiedLaunch, origin: str, launch_url: str, now: float
    ) -> Page:
        """The picker for a verified ``LtiDeepLinkingRequest``.

        ``origin``: this service's, where the picker posts; ``launch_url``: the created links' target.
        """
        settings = Settings.parse(claims.deep_linking or {})
        context = _Context(
            registration.issuer,
            registration.client_id,
            claims.deployment_id,
            registration.bi_org,
            launch_url,
            settings,
        )
        ticket = secrets.token_urlsafe(32)
        item = {
            "pk": {"S": _key(ticket)},
            "expires_at": {"N": str(int(now) + self._lifetime)},
            "context": {"S": context.to_json()},
        }
        if put_if_new(self._client, self._table_name, item, "deep-linking picker") is not None:
            raise ReplayStoreUnavailable("DynamoDB (deep-linking picker): the ticket's item exists")
        body = picker_page(self._catalogue.items(context.org), ticket, origin + CHOOSE_PATH, settings)
        return Page(body, PICKER_POLICY)

    # ---- the instructor's choice: the signed answer -----------------------------------------
    def choose(
        self, form: dict[str, list[str]], origin: str | None, posted_from: str | None, now: float
    ) -> Page:
        """The auto-posting page of the signed response; an ``SsoError`` (and nothing signed) otherwise."""
        if origin is None or posted_from != origin:
            # Another site's page could post a ticket it saw to choose for the instructor.
            raise ChoiceRefused(
                f"the choice was posted from {(posted_from or 'no origin')[:100]!r}, "
                "not from this service's page"
            )
        tickets = form.get(TICKET_FIELD, [])
        if len(tickets) != 1 or not 0 < len(tickets[0]) <= 128:
            raise ChoiceRefused("the form carries no ticket (or more than one)")
        ticket = tickets[0]
        context = self._peek(ticket, now)
        chosen = self._chosen(context, form.get(ITEM_FIELD, []))
        grade = form.get(GRADE_FIELD, []) == ["on"]
        self._use_once(ticket, now)
        token = self._tool_key.sign(response_claims(context, chosen, grade, now))
        return Page(
            return_page(context.settings.return_url, token), return_page_policy(context.settings.return_url)
        )

    def _chosen(self, context: _Context, ids: list[str]) -> list[Item]:
        if not ids:
            raise ChoiceRefused("nothing was chosen", expected="at least one destination")
        if len(ids) > 1 and not context.settings.accept_multiple:
            raise ChoiceRefused("the platform accepts one item here, and several were chosen")
        if len(ids) > _MAX_CHOICES or len(set(ids)) != len(ids):
            raise ChoiceRefused(f"at most {_MAX_CHOICES} different destinations may be chosen at once")
        found = [self._catalogue.find(context.org, item_id[:64]) for item_id in ids]
        chosen = [item for item in found if item is not None]
        if len(chosen) != len(ids):
            raise ChoiceRefused("a chosen destination is not in this org's catalogue")
        return chosen

    def _peek(self, ticket: str, now: float) -> _Context:
        client = store_client(self._client, "deep-linking picker")
        try:
            item = client.get_item(
                TableName=self._table_name, Key={"pk": {"S": _key(ticket)}}, ConsistentRead=True
            ).get("Item")
        except Exception as error:  # noqa: BLE001 - fail closed
            raise ReplayStoreUnavailable(f"DynamoDB (deep-linking picker): {type(error).__name__}") from None
        if not item or "used_by" in item or float(item["expires_at"]["N"]) <= now:
            raise PickerExpired("the picker's ticket is unknown, used or expired")
        return _Context.from_json(item["context"]["S"])

    def _use_once(self, ticket: str, now: float) -> None:
        client = store_client(self._client, "deep-linking picker")
        claim = uuid.uuid4().hex
        try:
            client.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": _key(ticket)}},
                UpdateExpression="SET used_by = :claim",
                ConditionExpression=(
                    "attribute_exists(pk) AND attribute_not_exists(used_by) AND expires_at > :now"
                ),
                ExpressionAttributeValues={":claim": {"S": claim}, ":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as error:
            if (error.response.get("Item") or {}).get("used_by", {}).get("S") != claim:  # not our retry
                raise PickerExpired("the picker's ticket was used meanwhile") from None
        except Exception as error:  # noqa: BLE001 - fail closed
            raise ReplayStoreUnavailable(f"DynamoDB (deep-linking picker): {type(error).__name__}") from None


def response_claims(context: _Context, chosen: list[Item], grade: bool, now: float) -> dict[str, Any]:
    """The ``LtiDeepLinkingResponse`` (Deep Linking 2.0 §4.5): from the tool to the platform."""
    claims: dict[str, Any] = {
        "iss": context.client_id,
        "aud": context.issuer,
        "iat": int(now),
        "exp": int(now) + RESPONSE_SECONDS,
        "nonce": secrets.token_urlsafe(24),
        CLAIM["message_type"]: "LtiDeepLinkingResponse",
        CLAIM["version"]: "1.3.0",
        CLAIM["deployment_id"]: context.deployment_id,
        CONTENT_ITEMS: [_content_item(context.launch_url, item, grade) for item in chosen],
    }
    if context.settings.has_data:
        claims[DATA] = context.settings.data
    return claims


def _content_item(launch_url: str, item: Item, grade: bool) -> dict[str, Any]:
    link: dict[str, Any] = {
        "type": RESOURCE_LINK,
        "title": item.title,
        "url": launch_url,
        "custom": {"redirect_to": item.path},
    }
    if grade:
        link["lineItem"] = {"scoreMaximum": SCORE_MAXIMUM, "label": item.title, "resourceId": item.path}
    return link


def _key(ticket: str) -> str:
    return f"lti-pick#{digest(ticket)}"


def _fits_csp(url: str) -> bool:
    """A URL a CSP source expression can name: no whitespace, ';' or ',' (they separate directives)."""
    return not any(character in url for character in " \t\r\n;,'\"")


def _shown(value: Any) -> Any:
    return value[:10] if isinstance(value, list) else str(value)[:100]


# ---- the pages ---------------------------------------------------------------------------------
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "color:#1a1a1a;line-height:1.5}fieldset{margin:0 0 1rem;border:1px solid #bbb;padding:.5rem 1rem}"
    "legend{font-weight:600}label{display:block;padding:.25rem 0}"
    "input:focus-visible,button:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}"
    "button{font-size:1rem;padding:.5rem 1rem}"
)
# The picker: no script at all; in the LMS's frame; its one form posts back to this service.
PICKER_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; form-action 'self'"
)
_HEAD = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>{title}</h1>
"""
_TAIL = "</main>\n</body>\n</html>\n"


def picker_page(items: tuple[Item, ...], ticket: str, action: str, settings: Settings) -> str:
    """The catalogue as one form: a fieldset per group, radio buttons (or check boxes), a grade option."""
    kind = "checkbox" if settings.accept_multiple else "radio"
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    fieldsets = []
    for group, members in groups.items():
        options = "".join(
            f'<label><input type="{kind}" name="{ITEM_FIELD}" value="{html.escape(item.id)}"'
            f"{' required' if kind == 'radio' else ''}> {html.escape(item.title)}</label>\n"
            for item in members
        )
        fieldsets.append(f"<fieldset>\n<legend>{html.escape(group)}</legend>\n{options}</fieldset>\n")
    how_many = f"Choose one or more (at most {_MAX_CHOICES})." if settings.accept_multiple else "Choose one."
    then = (
        "Your course adds it as soon as you choose."
        if settings.auto_create
        else "Your course then asks you to confirm before adding it."
    )
    body = (
        f"<p>Where should the link take your students in Big Interview? {how_many} {then}</p>\n"
        f'<form method="post" action="{html.escape(action)}">\n'
        f'<input type="hidden" name="{TICKET_FIELD}" value="{html.escape(ticket)}">\n'
        + "".join(fieldsets)
        + "<fieldset>\n<legend>Grade</legend>\n"
        f'<label><input type="checkbox" name="{GRADE_FIELD}"> Add a gradebook column: '
        f"the student's progress, out of {SCORE_MAXIMUM}</label>\n</fieldset>\n"
        '<p><button type="submit">Add to course</button></p>\n</form>\n'
    )
    return _HEAD.format(title="Add Big Interview content", style=_STYLE) + body + _TAIL


_RETURN_SCRIPT = 'document.getElementById("return").submit();'
_RETURN_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_RETURN_SCRIPT.encode()).digest()).decode()


def return_page(return_url: str, token: str) -> str:
    """The signed response, posted to the platform as ``JWT`` by its one script (a button without one)."""
    body = (
        f'<form id="return" method="post" action="{html.escape(return_url)}">\n'
        f'<input type="hidden" name="JWT" value="{html.escape(token)}">\n'
        "<p>Adding the content to your course…</p>\n"
        '<noscript><p><button type="submit">Continue to your course</button></p></noscript>\n'
        f"</form>\n<script>{_RETURN_SCRIPT}</script>\n"
    )
    return _HEAD.format(title="Returning to your course", style=_STYLE) + body + _TAIL


def return_page_policy(return_url: str) -> str:
    """One script (by its hash); the form may go to the platform's return URL alone (its path, no query)."""
    parts = urlsplit(return_url)
    target = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    return (
        f"default-src 'none'; script-src 'sha256-{_RETURN_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
        f"frame-ancestors *; base-uri 'none'; form-action {target}"
    )
