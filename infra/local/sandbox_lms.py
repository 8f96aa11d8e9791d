"""A sandbox learning platform: a course page whose "Big Interview" link makes a real LTI 1.3 launch.

The platform side is PyPI's ``lti1p3platform`` (an LTI 1.3 platform
implementation nobody here wrote): its ``Registration`` holds the platform's
key pair and the tool's URLs, ``OIDCLoginAbstract.initiate_login`` builds the
third-party initiated login, and ``MessageLaunchAbstract.lti_launch`` checks the
tool's authentication request (``nonce``, ``state``, ``redirect_uri``,
``client_id``), builds the resource link launch message and signs the
``id_token``. This module is only the web framework glue the package leaves to
its user (a request adapter and the auto-submitting form), plus what a real
platform adds around it: the ``redirect_uri`` must be the registered launch URL,
and ``login_hint`` must name a user of the course.

Pages:

- ``/`` - the course "Interview Skills 101": a "Big Interview" link per
  student, a deep link into a Big Interview page, and a link whose deployment
  is not registered with the tool;
- ``/launch?user=…[&link=…]`` - the login initiation (302 to the tool's ``/lti/login``);
- ``/auth`` - the OIDC authorization endpoint: answers with the form post of the
  ``id_token`` to the tool's ``redirect_uri``;
- ``/jwks`` - the platform's public keys;
- ``/deep-link?placement=…`` and ``/deep-link/return`` - an instructor adds Big Interview content
  (Deep Linking 2.0, ``sandbox_deep_linking.py``); the links created join the course page;
- ``/gradebook`` - the scores the tool posted to the graded link's line item, per student;
  ``/token`` and ``/lineitems/{link}/scores`` - the platform's token endpoint and score service
  (``infra.local.sandbox_gradebook``);
- ``/course/frame?user=…&link=…&storage=canvas|blackboard|none`` - the course page with the
  tool in an iframe, as an LMS embeds it (open it on ``framed_url``'s host, ``localhost``,
  and the tool on ``127.0.0.1`` is another site: a third party in the frame);
- ``/storage`` - the platform's storage frame (1EdTech Platform Storage): answers
  ``lti.capabilities``, ``lti.put_data`` and ``lti.get_data`` postMessages, keeping values
  per sender origin, on the platform's own origin (its authorization endpoint's). Canvas's
  style names it ``post_message_forwarding`` and announces it as ``lti_storage_target`` in
  the login and the launch; Blackboard's names it ``lti_storage_frame`` and announces it in
  the login only: the tool finds it in the launch through ``lti.capabilities``, which the
  storage frame's parent (the course page) answers. The ``impostor`` style is an attack: its
  storage frame is on the course page's origin, not the platform's.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest

from infra.local.http_server import BackgroundHTTPServer, LoopbackService, QuietHandler, first, html_page
from infra.local.sandbox_deep_linking import (
    INSTRUCTOR,
    INSTRUCTOR_ROLES,
    PLACEMENTS,
    DeepLinkingDesk,
    added_page,
    course_section,
    verify_response,
)
from infra.local.sandbox_gradebook import LINEITEMS_PATH, TOKEN_PATH, Gradebook

CLIENT_ID = "sandbox-big-interview"
DEPLOYMENT_ID = "sandbox-deployment-1"
UNREGISTERED_DEPLOYMENT_ID = "sandbox-deployment-unregistered"
DEEP_LINK = "/members/curriculum?chapter=6"
# Each storage style: the storage frame's name, and whether the launch announces it as the login does.
STORAGE_STYLES = {
    "canvas": ("post_message_forwarding", True),
    "blackboard": ("lti_storage_frame", False),
    # An attack: a storage frame on the course page's origin (localhost), not the platform's.
    "impostor": ("impostor", True),
}


@dataclass(frozen=True)
class Student:
    user_id: str  # the platform's own id: the LTI sub
    given_name: str | None
    family_name: str | None
    email: str | None


STUDENTS = {
    student.user_id: student
    for student in (
        Student(
            "5f0e3c1a-2b7d-4e89-a1c6-000000000001", "Ada", "Lovelace", "ada.lovelace@student.example.edu"
        ),
        Student(
            "5f0e3c1a-2b7d-4e89-a1c6-000000000002", "Grace", "Hopper", "grace.hopper@student.example.edu"
        ),
        # A student whose platform does not release names and email (a privacy setting).
        Student("5f0e3c1a-2b7d-4e89-a1c6-000000000003", None, None, None),
    )
}
# The link whose launches carry a line item (LTI AGS): Big Interview's progress, in the gradebook.
GRADED_LINK = "big-interview-graded"
# Each link on the course page: its resource link id, title and custom parameters.
LINKS = {
    "big-interview": ("Big Interview", {}),
    "big-interview-curriculum": ("Big Interview: the curriculum, chapter 6", {"redirect_to": DEEP_LINK}),
    GRADED_LINK: ("Big Interview: your progress (graded)", {}),
}


class SandboxLms(LoopbackService):
    """The sandbox platform. ``tool_url`` (the API's base URL) may be set after start."""

    def __init__(self, tool_url: str = "", port: int = 0) -> None:
        self.tool_url = tool_url.rstrip("/")
        # What the tests change to provoke a refusal: an id_token already expired when signed.
        self.id_token_lifetime_seconds = 300
        self.launches = 0  # id_tokens signed
        # Where the tool sends the browser after a launch (Big Interview): the form's CSP allows it.
        self.redirect_origins: tuple[str, ...] = ()
        self.deep_linking = DeepLinkingDesk()  # the instructor's requests, and the links they created
        # Grade services: the scores the tool posts; the tool's key set when not fetched from /lti/jwks.
        self.gradebook = Gradebook({user_id: _name(student) for user_id, student in STUDENTS.items()})
        self.tool_key_set: dict[str, Any] | None = None
        self.client_id = CLIENT_ID  # the tool's client_id in this platform's registration
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self._http = BackgroundHTTPServer(_handler_class_for(self), port)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    def lineitem_url(self, link: str = GRADED_LINK) -> str:
        return f"{self.url}{LINEITEMS_PATH}/{link}"

    @property
    def launch_url(self) -> str:
        return f"{self.tool_url}/lti/launch"

    @property
    def deep_link_return_url(self) -> str:
        return f"{self.url}/deep-link/return"

    def link(self, link_id: str) -> tuple[str, dict[str, str]] | None:
        """A course link's title and custom parameters: the page's own, or one deep linking created."""
        created = {link.link_id: (link.title, link.custom) for link in self.deep_linking.created}
        return LINKS.get(link_id) or created.get(link_id)

    @property
    def framed_url(self) -> str:
        """This platform on ``localhost``: its course page is another site than the tool's ``127.0.0.1``."""
        return self.url.replace("//127.0.0.1:", "//localhost:")

    @property
    def course_frame_policy(self) -> str:
        """The framed course page: frames of its own, the tool, and where the tool sends the student."""
        sources = " ".join(("'self'", self.url, _origin(self.tool_url), *self.redirect_origins))
        return f"default-src 'none'; frame-src {sources}"

    @property
    def frame_ancestors(self) -> str:
        """Its pages show inside its own course page (on either host), never in another site's."""
        return f"frame-ancestors {self.url} {self.framed_url}"

    def platform(self, deployment_id: str = DEPLOYMENT_ID) -> LTI1P3PlatformConfAbstract:
        """The package's platform configuration: this platform's registration of the tool."""
        registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(deployment_id)
            .set_launch_url(self.launch_url)
            .set_deeplink_launch_url(self.launch_url)
            .set_oidc_login_url(f"{self.tool_url}/lti/login")
            .set_tool_key_set_url(f"{self.tool_url}/lti/jwks")
            .set_platform_public_key(self._public_pem)
            .set_platform_private_key(self._private_pem)
        )
        if self.tool_key_set is not None:
            registration.set_tool_key_set(self.tool_key_set)
        return _Platform(registration=registration)

    def course_page(self) -> str:
        items = []
        for user_id, student in STUDENTS.items():
            name = _name(student)
            links = [(link, title) for link, (title, _) in LINKS.items()]
            links += [(link.link_id, link.title) for link in self.deep_linking.created]
            for link, title in links:
                query = urlencode({"user": user_id, "link": link})
                link_html = f'<a href="/launch?{html.escape(query)}">{html.escape(title)}</a>'
                items.append(f"<li>{link_html} as {html.escape(name)}</li>")
        wrong = urlencode(
            {"user": next(iter(STUDENTS)), "link": "big-interview", "deployment": UNREGISTERED_DEPLOYMENT_ID}
        )
        wrong_title = "Big Interview (a deployment the tool does not know)"
        items.append(f'<li><a href="/launch?{html.escape(wrong)}">{wrong_title}</a></li>')
        body = (
            "<h1>Interview Skills 101</h1>\n<p><small>Sandbox learning platform (LTI 1.3, "
            "<code>lti1p3platform</code>). Each link launches the tool as a student.</small></p>\n"
            f"<ul>\n{''.join(items)}\n</ul>\n{course_section()}"
            '<p><a href="/gradebook">Gradebook</a></p>\n'
        )
        return html_page("Interview Skills 101", body)

    def framed_course_page(self, user: str, link: str, storage: str, nonce: str) -> str:
        """The course page with the tool in an iframe and, per the style, the platform's storage frame."""
        query = urlencode({"user": user, "link": link, "storage": storage})
        frames = ""
        if storage in STORAGE_STYLES:
            name = STORAGE_STYLES[storage][0]
            # On the platform's own origin (its authorization endpoint's), not the course page's.
            host = self.framed_url if storage == "impostor" else self.url
            source = html.escape(f"{host}/storage")
            frames += f'<iframe name="{name}" title="storage" src="{source}" hidden></iframe>\n'
        frames += f'<iframe name="tool" title="Big Interview" src="/launch?{html.escape(query)}"></iframe>\n'
        body = f"<h1>Interview Skills 101</h1>\n{frames}"
        page = html_page("Interview Skills 101", body)
        if storage not in STORAGE_STYLES:
            return page
        # The course page answers lti.capabilities from its tool's frame: where its storage frame is.
        script = _CAPABILITIES_SCRIPT.replace("FRAME_NAME", STORAGE_STYLES[storage][0])
        return page.replace("</body>", f'<script nonce="{nonce}">{script}</script>\n</body>')


_CAPABILITIES_SCRIPT = """window.addEventListener("message", function (event) {
  var message = event.data;
  if (!message || message.subject !== "lti.capabilities") { return; }
  event.source.postMessage({
    subject: "lti.capabilities.response",
    message_id: message.message_id,
    supported_messages: [
      { subject: "lti.put_data", frame: "FRAME_NAME" },
      { subject: "lti.get_data", frame: "FRAME_NAME" }
    ]
  }, event.origin);
});"""

# The storage frame's script: values kept per sender origin, answers only to the sender;
# window.received counts the messages it answered, by subject (make bench reads it).
STORAGE_FRAME_SCRIPT = """(function () {
  var stored = {};
  window.received = {};
  var supported = ["lti.capabilities", "lti.put_data", "lti.get_data"];
  window.addEventListener("message", function (event) {
    var message = event.data;
    if (!message || typeof message !== "object" || supported.indexOf(message.subject) < 0) { return; }
    var answer = { subject: message.subject + ".response", message_id: message.message_id };
    var mine = stored[event.origin] = stored[event.origin] || {};
    if (message.subject === "lti.capabilities") {
      answer.supported_messages = [
        { subject: "lti.put_data", frame: window.name },
        { subject: "lti.get_data", frame: window.name }
      ];
    } else if (typeof message.key !== "string" || !message.key) {
      answer.error = { code: "bad_request", message: "no key" };
    } else if (message.subject === "lti.put_data") {
      mine[message.key] = message.value;
      answer.key = message.key;
      answer.value = message.value;
    } else if (Object.prototype.hasOwnProperty.call(mine, message.key)) {
      answer.key = message.key;
      answer.value = mine[message.key];
    } else {
      answer.key = message.key;
      answer.error = { code: "bad_request", message: "nothing stored under this key" };
    }
    window.received[message.subject] = (window.received[message.subject] || 0) + 1;
    event.source.postMessage(answer, event.origin);
  });
})();"""


class _Platform(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        registration: Registration = self._registration
        return registration


class _Request(Request):
    """The package's request shape, from what our HTTP handler read."""

    def build_metadata(self, request: Any) -> TRequest:
        method, path, query, form = request
        return {
            "method": method,
            "form_data": form,
            "get_data": query,
            "headers": {},
            "content_type": "application/x-www-form-urlencoded",
            "path": path,
            "json": None,
        }


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["link"]

    def get_redirect(self, url: str) -> str:
        return url


def _name(student: Student) -> str:
    names = (student.given_name, student.family_name)
    return " ".join(n for n in names if n) or "a student without a released name"


class _Launch(LTIAdvantageMessageLaunchAbstract):
    """The resource link launch, with the student's identity and the link's claims."""

    def __init__(
        self,
        request: Request,
        platform: LTI1P3PlatformConfAbstract,
        student: Student,
        link: str,
        claims: tuple[str, dict[str, str]],
        lineitem_url: str | None = None,
    ) -> None:
        super().__init__(request, platform)
        self._student = student
        self._link = link
        self._claims = claims
        self._lineitem_url = lineitem_url

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        student = self._student
        roles = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
        self.set_user_data(student.user_id, roles, email_address=student.email)
        names = {"given_name": student.given_name, "family_name": student.family_name}
        self.set_extra_claims({claim: value for claim, value in names.items() if value})
        title, custom = self._claims
        self.set_resource_link_claim(self._link, title=title)
        self.set_launch_context_claim("course-101", context_title="Interview Skills 101")
        if custom:
            self.set_custom_parameters_claim(custom)
        if self._lineitem_url is not None:  # AGS §3.1: one line item, the tool may only post scores
            lineitems = self._lineitem_url.rsplit("/", 1)[0]
            self.set_ags(
                lineitems, self._lineitem_url, allow_creating_lineitems=False, results_service_enabled=False
            )

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class _DeepLinkingLaunch(LTIAdvantageMessageLaunchAbstract):
    """The instructor's deep-linking request (its settings: ``set_dl``, per placement)."""

    def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
        self.set_user_data(INSTRUCTOR, INSTRUCTOR_ROLES, email_address="ida.wells@faculty.example.edu")
        self.set_extra_claims({"given_name": "Ida", "family_name": "Wells"})
        self.set_launch_context_claim("course-101", context_title="Interview Skills 101")

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


def _auto_post_page(action: str, fields: dict[str, str], nonce: str) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in fields.items()
    )
    body = (
        f'<form method="post" action="{html.escape(action)}">\n{inputs}'
        "<p>Opening Big Interview...</p>\n"
        '<noscript><p><button type="submit">Continue</button></p></noscript>\n</form>\n'
        f'<script nonce="{nonce}">document.forms[0].submit();</script>'
    )
    return html_page("Opening Big Interview...", body)


def _handler_class_for(lms: SandboxLms) -> type[QuietHandler]:
    class LmsRequestHandler(QuietHandler):
        server_version = "sandbox-lms"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/":
                self.send_html(200, lms.course_page())
            elif parts.path == "/gradebook":
                self.send_html(200, lms.gradebook.page({lms.lineitem_url(): LINKS[GRADED_LINK][0]}))
            elif parts.path == "/jwks":
                self.send_json(200, lms.platform().get_jwks(), [("Cache-Control", "max-age=300")])
            elif parts.path == "/launch":
                self._initiate(query)
            elif parts.path == "/auth":
                self._authorize({name: values[0] for name, values in query.items()})
            elif parts.path == "/deep-link":
                self._initiate_deep_linking(first(query, "placement") or "")
            elif parts.path == "/course/frame":
                user, link = first(query, "user") or "", first(query, "link") or ""
                storage = first(query, "storage") or "none"
                nonce = secrets.token_urlsafe(16)
                page = lms.framed_course_page(user, link, storage, nonce)
                policy = f"{lms.course_frame_policy}; script-src 'nonce-{nonce}'"
                self.send_html(200, page, csp=policy)
            elif parts.path == "/storage":
                nonce = secrets.token_urlsafe(16)
                page = html_page("Storage", "").replace(
                    "</body>", f'<script nonce="{nonce}">{STORAGE_FRAME_SCRIPT}</script>\n</body>'
                )
                self.send_html(
                    200, page, csp=f"default-src 'none'; script-src 'nonce-{nonce}'; {lms.frame_ancestors}"
                )
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path == TOKEN_PATH:
                fields = parse_qs(self.read_body().decode("utf-8", "replace"))
                status, document = lms.gradebook.token(
                    lms.platform(), lms.token_url, {name: values[0] for name, values in fields.items()}
                )
                self.send_json(status, document, [("Cache-Control", "no-store")])
                return
            if path.startswith(LINEITEMS_PATH + "/") and path.endswith("/scores"):
                lineitem = lms.url + path[: -len("/scores")]
                headers = {name: value for name, value in self.headers.items()}
                status = lms.gradebook.score(lms.platform(), lineitem, headers, self.read_body())
                self.send(status)
                return
            if path not in ("/auth", "/deep-link/return"):
                self.send_json(404, {"error": "not found"})
                return
            form = parse_qs(self.read_body().decode("utf-8", "replace"))
            values = {name: values[0] for name, values in form.items()}
            if path == "/deep-link/return":
                self._deep_link_return(values.get("JWT", ""))
            else:
                self._authorize(values)

        def _initiate_deep_linking(self, placement: str) -> None:
            if placement not in PLACEMENTS:
                self.send_json(400, {"error": "unknown placement"})
                return
            login = _Login(_Request(("GET", "/deep-link", {}, {})), lms.platform())
            login.set_lti_message_hint(link=f"dl:{placement}:{lms.deep_linking.request(placement)}")
            location = login.initiate_login(INSTRUCTOR)
            self.send(302, headers=[("Location", location), ("Cache-Control", "no-store")])

        def _deep_link_return(self, token: str) -> None:
            """The tool's response: verified by the package, then accepted once for its request."""
            platform = lms.platform()
            try:
                claims = verify_response(platform, token)
                links = lms.deep_linking.accept(claims, lms.issuer, CLIENT_ID, DEPLOYMENT_ID)
            except Exception as error:  # noqa: BLE001 - any refusal is the platform's answer
                lms.deep_linking.refused.append(f"{type(error).__name__}: {error}")
                self.send_json(400, {"error": "deep linking response refused", "reason": str(error)})
                return
            self.send_html(200, added_page(links))

        def _deep_linking_request(self, params: dict[str, str]) -> None:
            """The authentication request of an instructor's deep-linking launch: the signed request."""
            _, placement, data = params.get("lti_message_hint", "").split(":", 2)
            platform = lms.platform()
            launch = _DeepLinkingLaunch(_Request(("GET", "/auth", params, {})), platform)
            accepted = PLACEMENTS[placement]
            launch.set_dl(
                lms.deep_link_return_url,
                title="Big Interview",
                accept_types=set(accepted.accept_types),
                extra_data=None,
            )
            # The package fixes accept_multiple and auto_create and takes data as an object only.
            settings = next(iter((launch._deep_linking_launch_data or {}).values()))
            settings.update(accept_multiple=accepted.accept_multiple, auto_create=True, data=data)
            data_out = launch.lti_launch()
            fields = {"id_token": data_out["id_token"], "state": data_out["state"]}
            self._post_to_tool(data_out["launch_url"], fields)

        def _initiate(self, query: dict[str, list[str]]) -> None:
            user, link = first(query, "user") or "", first(query, "link") or ""
            if user not in STUDENTS or lms.link(link) is None:
                self.send_json(400, {"error": "unknown user or link"})
                return
            storage = first(query, "storage") or "none"
            platform = lms.platform(first(query, "deployment") or DEPLOYMENT_ID)
            login = _Login(_Request(("GET", "/launch", {}, {})), platform)
            # The hint carries the link and the storage style to the authorization step.
            login.set_lti_message_hint(link=f"{link}:{storage}" if storage in STORAGE_STYLES else link)
            location = login.initiate_login(user)
            if storage in STORAGE_STYLES:
                location += "&" + urlencode({"lti_storage_target": STORAGE_STYLES[storage][0]})
            self.send(302, headers=[("Location", location), ("Cache-Control", "no-store")])

        def _authorize(self, params: dict[str, str]) -> None:
            """The authentication request from the tool: checked, answered with the id_token's form post."""
            if params.get("login_hint") == INSTRUCTOR and params.get("lti_message_hint", "").startswith(
                "dl:"
            ):
                if params.get("redirect_uri") != lms.launch_url:
                    self.send_json(400, {"error": "invalid redirect_uri"})
                    return
                self._deep_linking_request(params)
                return
            student = STUDENTS.get(params.get("login_hint", ""))
            link, _, storage = params.get("lti_message_hint", "").partition(":")
            claims = lms.link(link)
            if student is None or claims is None:
                self.send_json(
                    400, {"error": "login_hint or lti_message_hint is not one this platform issued"}
                )
                return
            platform = lms.platform()
            if params.get("redirect_uri") != lms.launch_url:
                # OIDC Core §3.1.2.1: the redirect_uri must be one registered for the client.
                self.send_json(400, {"error": "invalid redirect_uri"})
                return
            lineitem = lms.lineitem_url(link) if link == GRADED_LINK else None
            launch = _Launch(
                _Request(("GET", "/auth", params, {})), platform, student, link, claims, lineitem
            )
            launch.set_id_token_expiration(lms.id_token_lifetime_seconds)
            data = launch.lti_launch()
            lms.launches += 1
            fields = {"id_token": data["id_token"], "state": data["state"]}
            if storage in STORAGE_STYLES and STORAGE_STYLES[storage][1]:  # Canvas's launch names it too
                fields["lti_storage_target"] = STORAGE_STYLES[storage][0]
            self._post_to_tool(data["launch_url"], fields)

        def _post_to_tool(self, launch_url: str, fields: dict[str, str]) -> None:
            nonce = secrets.token_urlsafe(16)
            # The form goes to the tool, and on along its redirect to Big Interview.
            form_action = " ".join((_origin(lms.tool_url), *lms.redirect_origins))
            csp = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; form-action {form_action}; "
                f"{lms.frame_ancestors}"
            )
            self.send_html(200, _auto_post_page(launch_url, fields, nonce), csp=csp)

    return LmsRequestHandler


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
