"""The sandbox platform's Deep Linking 2.0 side: an instructor adds Big Interview content to the course.

``lti1p3platform`` builds the ``LtiDeepLinkingRequest`` (``LTIAdvantageMessageLaunchAbstract.set_dl``)
and verifies the tool's ``LtiDeepLinkingResponse`` against the tool's JWKS
(``validate_deeplinking_resp``, which fetches ``/lti/jwks``). What a real platform adds around
it is here: each request carries its own ``data`` and return URL, and a response is accepted
once, for the request it answers (``data``), from this platform's tool (``iss`` its client_id,
``aud`` this platform, the deployment); the links it creates join the course page, where a
student launches them as any other.

Pages: ``/deep-link?placement=…`` starts the instructor's deep-linking launch (the login
initiation); ``/deep-link/return`` (POST, ``JWT``) is ``deep_link_return_url``.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import jwt

from infra.local.http_server import html_page

__all__ = ["INSTRUCTOR", "PLACEMENTS", "CreatedLink", "DeepLinkingDesk", "Placement"]

# The instructor who adds content (the platform's user id: the LTI sub).
INSTRUCTOR = "5f0e3c1a-2b7d-4e89-a1c6-0000000000a1"
INSTRUCTOR_ROLES = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


@dataclass(frozen=True)
class Placement:
    """Where in the course the instructor adds content: what that place accepts."""

    title: str
    accept_types: tuple[str, ...]
    accept_multiple: bool


# As LMSs offer them: an activity (one link: Moodle's activity chooser, Canvas's assignment
# selection), a module (several links: Canvas's link selection), and a rich-text editor
# button that takes no LTI link (HTML only: the tool must refuse it).
PLACEMENTS = {
    "activity": Placement("Add an activity", ("ltiResourceLink",), accept_multiple=False),
    "module": Placement("Add items to a module", ("ltiResourceLink",), accept_multiple=True),
    "editor": Placement("Insert from the editor", ("html", "link"), accept_multiple=False),
}


@dataclass(frozen=True)
class CreatedLink:
    """A resource link the tool's response created: the course page's new link."""

    link_id: str
    title: str
    custom: dict[str, str]
    line_item: dict[str, Any] | None


@dataclass
class DeepLinkingDesk:
    """The platform's pending deep-linking requests (by their ``data``) and the links created."""

    pending: dict[str, str] = field(default_factory=dict)  # data -> placement
    created: list[CreatedLink] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused response was refused
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, placement: str) -> str:
        """A new request's ``data``: the platform's own reference, echoed by the tool."""
        data = secrets.token_urlsafe(16)
        with self._lock:
            self.pending[data] = placement
        return data

    def accept(
        self, claims: dict[str, Any], issuer: str, client_id: str, deployment_id: str
    ) -> list[CreatedLink]:
        """The response's links, once per request; ``ValueError`` saying why a response is refused."""
        if claims.get("iss") != client_id or claims.get("aud") != issuer:
            raise ValueError("the response is not from this platform's tool to this platform")
        if claims.get(_CLAIM + "deployment_id") != deployment_id:
            raise ValueError("the response names another deployment")
        data = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/data")
        with self._lock:
            placement = self.pending.pop(data, None) if isinstance(data, str) else None
        if placement is None:
            raise ValueError("the response answers no pending request (already used, or never made)")
        items = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items") or []
        if len(items) > 1 and not PLACEMENTS[placement].accept_multiple:
            raise ValueError("several items for a place that takes one")
        links = []
        with self._lock:
            for item in items:
                link = CreatedLink(
                    f"dl-{len(self.created) + 1}",
                    str(item.get("title") or "Big Interview"),
                    dict(item.get("custom") or {}),
                    item.get("lineItem"),
                )
                self.created.append(link)
                links.append(link)
        return links


def verify_response(platform: Any, token: str) -> dict[str, Any]:
    """The package's verification (signature against the tool's JWKS, message type, item types)."""
    platform.validate_deeplinking_resp({"JWT": token})
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})  # verified just above
    return claims


def course_section() -> str:
    """The course page's instructor section: each placement's 'add' link."""
    items = "".join(
        f'<li><a href="/deep-link?placement={name}">{html.escape(placement.title)}: Big Interview</a></li>'
        for name, placement in PLACEMENTS.items()
    )
    return f"<h2>Instructor: add Big Interview content</h2>\n<ul>\n{items}\n</ul>"


def added_page(links: list[CreatedLink]) -> str:
    def shown(link: CreatedLink) -> str:
        graded = f" (graded, out of {link.line_item.get('scoreMaximum')})" if link.line_item else ""
        return f"<li>{html.escape(link.title)}{html.escape(graded)}</li>"

    items = "".join(shown(link) for link in links)
    back = '<p><a href="/">Back to the course</a></p>'
    body = f"<h1>Added to Interview Skills 101</h1>\n<ul>\n{items}\n</ul>\n{back}"
    return html_page("Added to the course", body)
