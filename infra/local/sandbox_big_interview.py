"""A sandbox Big Interview: the documented Partner API and the SSO login page, in memory.

It follows ``docs/big-interview-partner-api.md`` (shared docs): the bare-key
``Authorization`` check, ``partner_id`` rules, ``422`` when creating a user
without ``first_name``/``last_name``/``email``, ``201`` on create and ``200``
on refresh, and a fresh 64-hex token valid 48 hours on every call. Where the
real service is undocumented (*open* in the docs) it takes the tolerant choice:
a bad key is ``401``, bodies may be JSON or form-encoded, tokens are reusable
until they expire or the user's next token replaces them.

``/sso/login`` signs the browser in (a session cookie), then honours
``redirect_to`` (relative paths only) and shows ``return_url`` as the "Log out"
link. Every other page shows the path and who is signed in, so a redirect can
be followed to the end in tests.

Use it standalone::

    with SandboxBigInterview(api_key="0123...") as bi:
        ...  # bi.url, bi.api_calls
"""

from __future__ import annotations

import hmac
import html
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.local.http_server import BackgroundHTTPServer, LoopbackService, QuietHandler, first, html_page

PARTNER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: "$" accepts a final newline
TOKEN_LIFETIME = timedelta(hours=48)
CREATION_FIELDS = ("first_name", "last_name", "email")
SESSION_COOKIE = "bi_sandbox_session"
USERS_PREFIX = "/api/users/"
# ASCII control characters (and DEL) are never part of a safe relative path.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def iso_millis(moment: datetime) -> str:
    """``2015-01-01T00:00:00.000Z``, the timestamp style of the Partner API examples."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_relative_path(value: str) -> bool:
    """True for an in-app path such as ``/members/curriculum?chapter=6``; never another origin."""
    return (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not CONTROL_CHARACTERS.search(value)
    )


TRACKS_SUFFIX = "/tracks"
PRACTICE_PATH = "/members/practice-step"  # the sandbox's button: the next step done
# The documented guided tracks (the Partner API's docs show these two), each step's title and link.
TRACKS = {
    "Fast Track": (
        ("Interview basics", "/members/curriculum?chapter=1"),
        ("Answering the hard questions", "/members/curriculum?chapter=6"),
        ("A practice interview", "/members/practice"),
    ),
    "Mastery Track": (
        ("Your story", "/members/curriculum?chapter=2"),
        ("Behavioural questions", "/members/curriculum?chapter=7"),
        ("Negotiation", "/members/curriculum?chapter=9"),
        ("A mock interview", "/members/practice"),
    ),
}


@dataclass
class SandboxUser:
    """A Big Interview user as the sandbox stores it."""

    partner_id: str
    first_name: str
    last_name: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    """An SSO token and the user it signs in."""

    token: str
    partner_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    """A signed-in browser, remembered by cookie."""

    partner_id: str
    return_url: str | None


class ApiError(Exception):
    """A Partner API error answer: status plus the documented ``{"error": {...}}`` body."""

    def __init__(self, status: int, error_type: str, message: dict[str, list[str]]) -> None:
        super().__init__(error_type)
        self.status = status
        self.body = {"error": {"type": error_type, "message": message}}


class SandboxBigInterview(LoopbackService):
    """The sandbox Big Interview server; thread-safe, all state in memory.

    ``api_key`` is the only key accepted (``set_api_key`` swaps it, as an admin
    rotating the key would). ``clock`` lets tests move time past token expiry.
    """

    def __init__(self, api_key: str, port: int = 0, clock: Clock = utc_now) -> None:
        self._api_key = api_key
        self._clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, SandboxUser] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._current_token: dict[str, str] = {}
        self._sessions: dict[str, Session] = {}
        self._api_calls = 0
        self._progress: dict[str, dict[str, float]] = {}  # partner_id -> track title -> 0.00 to 1.00
        self._http = BackgroundHTTPServer(_handler_class_for(self), port)

    # -- observation and control ------------------------------------------
    @property
    def api_key(self) -> str:
        """The key currently accepted."""
        with self._lock:
            return self._api_key

    def set_api_key(self, api_key: str) -> None:
        """Accept only ``api_key`` from now on (simulates a key rotation)."""
        with self._lock:
            self._api_key = api_key

    @property
    def api_calls(self) -> int:
        """How many Partner API requests (any ``/api/...`` request) have arrived."""
        with self._lock:
            return self._api_calls

    def reset_api_calls(self) -> None:
        """Set the Partner API call counter back to zero."""
        with self._lock:
            self._api_calls = 0

    def user(self, partner_id: str) -> SandboxUser | None:
        """The stored user, if any."""
        with self._lock:
            return self._users.get(partner_id)

    # -- Partner API -------------------------------------------------------
    def handle_api(
        self, method: str, path: str, authorization: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Answer one ``/api/...`` request: ``(status, JSON document)``."""
        with self._lock:
            self._api_calls += 1
            # Constant-time compare: the sandbox should not model a timing leak.
            if not authorization or not hmac.compare_digest(authorization.encode(), self._api_key.encode()):
                raise ApiError(401, "unauthorized", {"authorization": ["is missing or not a valid API key"]})
        if not path.startswith(USERS_PREFIX):
            raise ApiError(404, "not_found", {"path": ["no such endpoint"]})
        partner_id = unquote(path[len(USERS_PREFIX) :])
        if partner_id.endswith(TRACKS_SUFFIX) and method == "GET":
            return self._tracks(partner_id[: -len(TRACKS_SUFFIX)])
        if "/" in partner_id or not partner_id:
            raise ApiError(404, "not_found", {"path": ["no such endpoint"]})
        if method != "POST":
            raise ApiError(405, "method_not_allowed", {"method": [f"{method} is not allowed"]})
        if not PARTNER_ID.fullmatch(partner_id):
            raise ApiError(
                422,
                "validation_error",
                {"partner_id": ["may contain only 0-9, a-z, A-Z, - and _, 1 to 64 characters"]},
            )
        return self._create_or_refresh(partner_id, body)

    def _create_or_refresh(self, partner_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            user = self._users.get(partner_id)
            status = 200
            if user is None:
                fields = {name: body.get(name) for name in CREATION_FIELDS}
                blank = {
                    name: ["can't be blank"]
                    for name, value in fields.items()
                    if not isinstance(value, str) or not value.strip()
                }
                if blank:
                    raise ApiError(422, "validation_error", blank)
                user = SandboxUser(
                    partner_id, str(fields["first_name"]), str(fields["last_name"]), str(fields["email"]), now
                )
                self._users[partner_id] = user
                status = 201
            issued = IssuedToken(secrets.token_hex(32), partner_id, now + TOKEN_LIFETIME)
            # "Each call refreshes the token": the previous one stops working.
            previous = self._current_token.pop(partner_id, None)
            if previous is not None:
                self._tokens.pop(previous, None)
            self._tokens[issued.token] = issued
            self._current_token[partner_id] = issued.token
        return status, {
            "user": {
                "partner_id": user.partner_id,
                "created_at": iso_millis(user.created_at),
                "anonymous": False,
                "token": {"token": issued.token, "expires_at": iso_millis(issued.expires_at)},
            }
        }

    def set_progress(self, partner_id: str, title: str, progress: float) -> None:
        """Move a user's progress on a track (0.00 to 1.00), as practising on Big Interview would."""
        with self._lock:
            self._progress.setdefault(partner_id, {})[title] = progress

    def complete_step(self, partner_id: str, title: str = "Fast Track") -> float:
        """Practising completes the track's next step (the sandbox's "Practise" button); the new progress."""
        steps = len(TRACKS[title])
        with self._lock:
            done = self._progress.setdefault(partner_id, {}).get(title, 0.0)
            progress = min(1.0, (round(done * steps) + 1) / steps)
            self._progress[partner_id][title] = progress
        return progress

    def progress(self, partner_id: str) -> dict[str, float]:
        """Each track's progress of the user (0.00 to 1.00)."""
        with self._lock:
            return {title: self._progress.get(partner_id, {}).get(title, 0.0) for title in TRACKS}

    def _tracks(self, partner_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /api/users/{partner_id}/tracks``: the documented guided tracks, with the user's progress."""
        with self._lock:
            if partner_id not in self._users:
                raise ApiError(404, "not_found", {"partner_id": ["no such user"]})
            progress = dict(self._progress.get(partner_id, {}))
        tracks = []
        for title, steps in TRACKS.items():
            done = progress.get(title, 0.0)
            tracks.append(
                {
                    "title": title,
                    "progress": round(done, 2),
                    "tracks": [
                        {"step": n, "title": step, "link": link, "completed": n <= done * len(steps)}
                        for n, (step, link) in enumerate(steps, start=1)
                    ],
                }
            )
        return 200, {"tracks": tracks}

    # -- SSO login and pages -----------------------------------------------
    def sign_in(self, token: str | None, return_url: str | None) -> tuple[str, SandboxUser] | None:
        """Trade a valid, unexpired token for a new session id; None if the token is no good."""
        if not token:
            return None
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None or issued.expires_at <= self._clock():
                return None
            session_id = secrets.token_urlsafe(24)
            self._sessions[session_id] = Session(issued.partner_id, return_url)
            return session_id, self._users[issued.partner_id]

    def session(self, session_id: str | None) -> tuple[Session, SandboxUser] | None:
        """The session and user behind a cookie value, if signed in."""
        with self._lock:
            found = self._sessions.get(session_id or "")
            return (found, self._users[found.partner_id]) if found else None


def display_name(user: SandboxUser) -> str:
    """``First Last``, as the signed-in page shows it."""
    return f"{user.first_name} {user.last_name}".strip()


def logout_link(return_url: str | None) -> str:
    """The "Log out" link: to ``return_url`` when it is an absolute http(s) URL, else home."""
    target = "/"
    if return_url and urlsplit(return_url).scheme in ("http", "https"):
        target = return_url
    return f'<p><a href="{html.escape(target)}">Log out</a></p>'


def signed_in_page(
    user: SandboxUser, path: str, return_url: str | None, progress: dict[str, float] | None = None
) -> str:
    """The page a signed-in browser sees: its path, the tracks' progress and a button that raises it."""
    who = f"{html.escape(display_name(user))} ({html.escape(user.partner_id)})"
    tracks = ""
    if progress is not None:
        items = "".join(
            f"<li>{html.escape(title)}: {round(value * 100)}%</li>" for title, value in progress.items()
        )
        tracks = (
            f"<h2>Your guided tracks</h2>\n<ul>{items}</ul>\n"
            f'<form method="post" action="{PRACTICE_PATH}"><button type="submit">'
            "Practise: complete the next step of the Fast Track</button></form>\n"
        )
    return html_page(
        "Big Interview (sandbox)",
        f"<h1>Signed in to Big Interview (sandbox) as {who}</h1>\n"
        f"<p>Page: <code>{html.escape(path)}</code></p>\n{tracks}{logout_link(return_url)}",
    )


def _handler_class_for(app: SandboxBigInterview) -> type[QuietHandler]:
    """A request handler class bound to ``app`` (the stdlib server builds one per request)."""

    class SandboxRequestHandler(QuietHandler):
        server_version = "big-interview-sandbox"

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_PUT(self) -> None:
            self._dispatch()

        def do_DELETE(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/api" or parts.path.startswith("/api/"):
                self._api(parts.path)
            elif parts.path == "/sso/login" and self.command == "GET":
                self._sso_login(parse_qs(parts.query))
            elif parts.path == PRACTICE_PATH and self.command == "POST":
                self._practise()
            elif self.command == "GET":
                self._page(self.path)
            else:
                self.send_json(404, {"error": {"type": "not_found", "message": {"path": ["no such page"]}}})

        def _api(self, path: str) -> None:
            raw = self.read_body()
            try:
                body = _parse_body(raw, self.headers.get("Content-Type", ""))
                status, document = app.handle_api(self.command, path, self.headers.get("Authorization"), body)
            except ApiError as error:
                self.send_json(error.status, error.body)
                return
            self.send_json(status, document)

        def _sso_login(self, query: dict[str, list[str]]) -> None:
            return_url = first(query, "return_url")
            signed_in = app.sign_in(first(query, "token"), return_url)
            if signed_in is None:
                page = html_page(
                    "Sign-in failed - Big Interview (sandbox)",
                    "<h1>Sign-in failed</h1>\n<p>This sign-in link is unknown or has expired.</p>",
                )
                self.send_html(401, page)
                return
            session_id, user = signed_in
            cookie = f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"
            redirect_to = first(query, "redirect_to")
            if redirect_to and is_relative_path(redirect_to):
                self.send(
                    302,
                    headers=[
                        ("Location", redirect_to),
                        ("Set-Cookie", cookie),
                        ("Cache-Control", "no-store"),
                    ],
                )
                return
            # An LTI launch lands here inside the learning platform's frame: the page may be framed.
            self.send_html(
                200,
                signed_in_page(user, "/sso/login", return_url),
                [("Set-Cookie", cookie)],
                csp="default-src 'none'; form-action 'self'; frame-ancestors *",
            )

        def _signed_in(self) -> tuple[Session, SandboxUser] | None:
            cookies = SimpleCookie(self.headers.get("Cookie", ""))
            morsel = cookies.get(SESSION_COOKIE)
            return app.session(morsel.value if morsel else None)

        def _practise(self) -> None:
            found = self._signed_in()
            if found is None:
                page = html_page("Not signed in - Big Interview (sandbox)", "<h1>Not signed in</h1>")
                self.send_html(401, page)
                return
            app.complete_step(found[1].partner_id)
            self.send(303, headers=[("Location", "/members/dashboard")])

        def _page(self, path: str) -> None:
            found = self._signed_in()
            if found is None:
                page = html_page(
                    "Not signed in - Big Interview (sandbox)",
                    f"<h1>Not signed in</h1>\n<p>Page: <code>{html.escape(path)}</code></p>",
                )
                self.send_html(401, page)
                return
            session, user = found
            self.send_html(200, signed_in_page(user, path, session.return_url, app.progress(user.partner_id)))

    return SandboxRequestHandler


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """A JSON object or form fields; the docs leave the encoding open, so accept both."""
    if not raw.strip():
        return {}
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return {name: values[0] for name, values in parse_qs(raw.decode()).items()}
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", {"body": ["is not valid JSON"]}) from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_request", {"body": ["must be a JSON object"]})
    return document
