"""PartnerApiClient against real HTTPS servers on loopback, with the API key in moto.

Well-behaved answers come from pytest-httpserver (``partner_server``); servers that
misbehave at the socket level (silent, slow, resetting, streaming too much) are a
tiny TLS server in a thread (``tests.servers.RawServer``), so a test never blocks the
shared pytest-httpserver.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler import __version__
from handler.aws_clients import AwsClients
from handler.errors import PartnerApiError, PartnerApiTimeout, ProfileRequired, SsoError
from handler.http_pool import new_http_pool
from handler.partner_api import PartnerApiClient
from handler.secret_source import SecretSource
from tests import leakcheck
from tests.conftest import SECRET_ID
from tests.servers import RawServer, http_answer, read_request, rst_close, sent_out
from tests.support import API_KEY, ROTATED_API_KEY, SigningKey, http_event, mint, user_document
from tests.support.clock import FakeClock
from tests.support.ports import free_port

PROFILE = {"first_name": "Adelheid", "last_name": "Quixotte", "email": "adelheid.q@example.edu"}
USER_PATH = re.compile(r"^/api/users/[^/]+$")
leakcheck.register(*PROFILE.values())


def plenty_of_time() -> float:
    return 9.0


def sso_token_value() -> str:
    token = "19633c68" + "0" * 56
    leakcheck.register(token)
    return token


class Script:
    """A pytest-httpserver handler answering from a list; the last answer repeats.

    Each answer is ``(status, body, headers)``; ``body`` may be a dict (sent as JSON).
    """

    def __init__(self, *answers: tuple[int, Any, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(
            {"headers": dict(request.headers), "body": request.get_data(), "path": request.path}
        )
        status, body, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(body, dict):
            return Response(json.dumps(body), status, headers=headers, content_type="application/json")
        return Response(body, status, headers=headers)


def ok(status: int = 200, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    return status, user_document(token or sso_token_value()), {}


def refused(status: int) -> tuple[int, Any, dict[str, str]]:
    return status, {"error": {"type": "error", "message": {"base": ["no"]}}}, {}


@pytest.fixture
def api_key(aws: Any) -> SecretSource:
    """The API key from moto, cached for an hour: only ``force_fetch`` sees a rotation."""
    return SecretSource(SECRET_ID, AwsClients().factory("secretsmanager"), max_age=3600)


@pytest.fixture
def pool(ca_file: Path) -> urllib3.PoolManager:
    return new_http_pool(ca_certs=str(ca_file))


@pytest.fixture
def make_client(
    api_key: SecretSource, pool: urllib3.PoolManager, clock: FakeClock
) -> Callable[..., PartnerApiClient]:
    """Factory: a client whose pauses before a retry are ``clock``'s (recorded, not waited)."""

    def build(
        base_url: str, read_timeout: float = 5.0, sleep: Callable[[float], None] = clock.sleep
    ) -> PartnerApiClient:
        return PartnerApiClient(base_url.rstrip("/"), api_key, pool, read_timeout, sleep=sleep)

    return build


@pytest.fixture
def client(make_client: Callable[..., PartnerApiClient], partner_server: HTTPServer) -> PartnerApiClient:
    return make_client(partner_server.url_for(""))


def serve(partner_server: HTTPServer, *answers: tuple[int, Any, dict[str, str]]) -> Script:
    script = Script(*answers)
    partner_server.expect_request(USER_PATH, method="POST").respond_with_handler(script)
    return script


# ---- success --------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [200, 201])
def test_success_returns_token_and_status(
    client: PartnerApiClient, partner_server: HTTPServer, status: int
) -> None:
    token = sso_token_value()
    serve(partner_server, ok(status, token))

    assert client.sso_token("abc123", PROFILE, plenty_of_time) == (token, status)


def test_request_goes_to_the_users_path_of_the_partner_id(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    script = serve(partner_server, ok())

    client.sso_token("abc-123_X", PROFILE, plenty_of_time)

    assert [r["path"] for r in script.requests] == ["/api/users/abc-123_X"]


def test_request_headers_carry_bare_key_accept_json_content_type_and_user_agent(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    script = serve(partner_server, ok())

    client.sso_token("abc123", PROFILE, plenty_of_time)

    [request] = script.requests
    headers = request["headers"]
    assert headers["Authorization"] == API_KEY
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"big-interview-sso-redirector/{__version__}"


def test_request_body_is_the_profile_as_json(client: PartnerApiClient, partner_server: HTTPServer) -> None:
    script = serve(partner_server, ok())

    client.sso_token("abc123", PROFILE, plenty_of_time)

    [request] = script.requests
    assert json.loads(request["body"]) == PROFILE


def test_token_needing_url_encoding_comes_back_verbatim(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    odd = "a b/c?d&e=f+g%"
    leakcheck.register(odd)
    serve(partner_server, ok(200, odd))

    assert client.sso_token("abc123", PROFILE, plenty_of_time) == (odd, 200)


def test_token_needing_url_encoding_round_trips_through_the_location_header(
    make_sso: Callable[..., Any], jwks: Any, partner_server: HTTPServer, rsa_key: SigningKey
) -> None:
    odd = "a b/c?d&e=f+g%"
    leakcheck.register(odd)
    serve(partner_server, ok(200, odd))

    result = make_sso()(http_event(query={"jwt": mint(rsa_key)}))

    assert result["statusCode"] == 302
    assert parse_qs(urlsplit(result["headers"]["Location"]).query)["token"] == [odd]


# ---- 401/403: the key is read again and the call made once more ----------------------------------
def key_check(request: Request) -> Response:
    """Accepts only the rotated key."""
    if request.headers.get("Authorization") == ROTATED_API_KEY:
        return Response(json.dumps(user_document(sso_token_value())), 200, content_type="application/json")
    return Response(json.dumps({"error": {"type": "unauthorized"}}), 401, content_type="application/json")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_fetched_again_and_rotated_key_succeeds(
    client: PartnerApiClient, api_key: SecretSource, aws: Any, partner_server: HTTPServer, status: int
) -> None:
    assert api_key.get() == API_KEY  # cached for an hour
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({"api_key": ROTATED_API_KEY}))
    script = Script(refused(status), ok())
    partner_server.expect_request(USER_PATH, method="POST").respond_with_handler(script)

    _, answered = client.sso_token("abc123", PROFILE, plenty_of_time)

    assert answered == 200
    assert [r["headers"]["Authorization"] for r in script.requests] == [API_KEY, ROTATED_API_KEY]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_twice_is_partner_api_error_after_exactly_two_calls(
    client: PartnerApiClient, partner_server: HTTPServer, status: int
) -> None:
    script = serve(partner_server, refused(status))

    with pytest.raises(PartnerApiError) as raised:
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert raised.value.code == "partner_api_error"
    assert len(script.requests) == 2


def test_422_is_profile_required_naming_the_missing_claims_without_retry(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    script = serve(
        partner_server, (422, {"error": {"type": "validation_error", "message": {"email": ["x"]}}}, {})
    )

    with pytest.raises(ProfileRequired) as raised:
        client.sso_token("newuser", {"first_name": "Ada"}, plenty_of_time)

    assert (raised.value.status, raised.value.code, raised.value.partner_status) == (
        422,
        "profile_required",
        422,
    )
    assert "the token has no family_name, email;" in raised.value.detail
    assert "Ada" not in raised.value.detail
    assert len(script.requests) == 1


def test_422_with_a_complete_profile_points_at_the_values_not_at_missing_claims(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    serve(partner_server, (422, {"error": {"type": "validation_error", "message": {"email": ["x"]}}}, {}))
    profile = {"first_name": "Ada", "last_name": "Lovelace", "email": "not-an-address"}

    with pytest.raises(ProfileRequired) as raised:
        client.sso_token("newuser", profile, plenty_of_time)

    assert "check that email is a valid address" in raised.value.detail
    assert not any(value in raised.value.detail for value in profile.values())


# ---- 5xx and 429: retried ----------------------------------------------------------------------------
def test_500_is_partner_api_error_without_retry(client: PartnerApiClient, partner_server: HTTPServer) -> None:
    # Issue 2 retries only connection errors, 429 and 502/503/504; a 500 is reported as is.
    script = serve(partner_server, refused(500), ok())

    with pytest.raises(PartnerApiError, match="500"):
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_error_then_200_succeeds_after_exactly_two_calls(
    client: PartnerApiClient, partner_server: HTTPServer, status: int
) -> None:
    token = sso_token_value()
    script = serve(partner_server, refused(status), ok(200, token))

    assert client.sso_token("abc123", PROFILE, plenty_of_time) == (token, 200)
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_error_is_retried_at_most_twice_then_partner_api_error(
    client: PartnerApiClient, partner_server: HTTPServer, status: int
) -> None:
    script = serve(partner_server, refused(status))

    with pytest.raises(PartnerApiError, match=str(status)):
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert len(script.requests) == 3


def test_429_with_retry_after_1_is_retried_after_waiting_1_second(
    make_client: Callable[..., PartnerApiClient], partner_server: HTTPServer, clock: FakeClock
) -> None:
    script = serve(partner_server, (429, {"error": {"type": "rate_limited"}}, {"Retry-After": "1"}), ok())

    _, status = make_client(partner_server.url_for(""), sleep=clock.sleep).sso_token(
        "abc123", PROFILE, plenty_of_time
    )

    assert status == 200
    assert len(script.requests) == 2
    assert clock.sleeps == [1]


def test_retry_after_above_2_seconds_is_retried_after_exactly_2_seconds(
    make_client: Callable[..., PartnerApiClient], partner_server: HTTPServer, clock: FakeClock
) -> None:
    script = serve(partner_server, (429, {"error": {"type": "rate_limited"}}, {"Retry-After": "30"}), ok())

    _, status = make_client(partner_server.url_for(""), sleep=clock.sleep).sso_token(
        "abc123", PROFILE, plenty_of_time
    )

    assert status == 200
    assert len(script.requests) == 2
    assert clock.sleeps == [2]


def test_gateway_errors_back_off_between_retries(
    make_client: Callable[..., PartnerApiClient], partner_server: HTTPServer, clock: FakeClock
) -> None:
    serve(partner_server, refused(503))

    with pytest.raises(PartnerApiError):
        make_client(partner_server.url_for(""), sleep=clock.sleep).sso_token(
            "abc123", PROFILE, plenty_of_time
        )

    assert len(clock.sleeps) == 2
    assert all(0 < pause <= 2 for pause in clock.sleeps)


def test_retries_never_outrun_the_remaining_time(
    make_client: Callable[..., PartnerApiClient], partner_server: HTTPServer, clock: FakeClock
) -> None:
    script = serve(partner_server, (503, {"error": {"type": "unavailable"}}, {"Retry-After": "2"}))
    deadline = clock() + 3.0

    with pytest.raises((PartnerApiError, PartnerApiTimeout)):
        make_client(partner_server.url_for(""), sleep=clock.sleep).sso_token(
            "abc123", PROFILE, lambda: deadline - clock()
        )

    # One 2 s pause fits in the 3 s (a call can still start after it); a second would not.
    assert clock.sleeps == [2]
    assert len(script.requests) == 2


# ---- unusable answers ----------------------------------------------------------------------------------
def test_html_instead_of_json_is_partner_api_error(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    serve(partner_server, (200, "<html><body>Maintenance</body></html>", {"Content-Type": "text/html"}))

    with pytest.raises(PartnerApiError, match=r"without user\.token\.token"):
        client.sso_token("abc123", PROFILE, plenty_of_time)


@pytest.mark.parametrize(
    "document",
    [
        {"user": {"partner_id": "abc123"}},
        {"user": {"token": {"token": ""}}},
        {"user": {"token": {"token": 5}}},
        {},
    ],
    ids=["no-token", "empty-token", "number-token", "empty-object"],
)
def test_json_without_token_is_partner_api_error(
    client: PartnerApiClient, partner_server: HTTPServer, document: dict[str, Any]
) -> None:
    serve(partner_server, (200, document, {}))

    with pytest.raises(PartnerApiError, match=r"without user\.token\.token"):
        client.sso_token("abc123", PROFILE, plenty_of_time)


def test_body_over_1_mib_is_refused_quickly_and_the_pool_still_works(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    token = sso_token_value()

    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        if index > 0:
            conn.sendall(http_answer(200, json.dumps(user_document(token)).encode()))
            return
        size = 20 * 1024 * 1024
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            if stopping.is_set():
                return
            conn.sendall(chunk)

    server = raw_server(handle)
    client = make_client(server.url)

    with pytest.raises(PartnerApiError, match="larger than"):
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert client.sso_token("abc123", PROFILE, plenty_of_time) == (token, 200)


def test_connection_reset_mid_body_is_partner_api_error(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        conn.sendall(b'{"user": {"token": ')
        sent_out(conn)  # the client gets the headers and the start of the body, then the reset
        rst_close(conn)

    server = raw_server(handle)

    with pytest.raises(PartnerApiError, match="broke off") as raised:
        make_client(server.url).sso_token("abc123", PROFILE, plenty_of_time)

    assert raised.value.code == "partner_api_error"
    assert server.connections == 1  # mid-body, not before an answer: not retried


# ---- unreachable and slow servers ---------------------------------------------------------------------
def test_connection_refused_is_partner_api_error(make_client: Callable[..., PartnerApiClient]) -> None:
    client = make_client(f"https://127.0.0.1:{free_port()}")

    # Caught as SsoError and checked here: a refused connection once came out as a 504
    # timeout (urllib3's NewConnectionError subclasses ConnectTimeoutError). Checking in
    # this frame keeps a failure's traceback free of the handler frames' arguments (the key).
    with pytest.raises(SsoError) as raised:
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert raised.value.code == "partner_api_error"


def test_connection_reset_before_an_answer_is_retried(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    token = sso_token_value()

    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        if index == 0:
            rst_close(conn)
            return
        conn.sendall(http_answer(200, json.dumps(user_document(token)).encode()))

    server = raw_server(handle)

    assert make_client(server.url).sso_token("abc123", PROFILE, plenty_of_time) == (token, 200)
    assert server.connections == 2


def test_connection_reset_before_every_answer_is_partner_api_error_after_three_attempts(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        rst_close(conn)

    server = raw_server(handle)

    with pytest.raises(PartnerApiError):
        make_client(server.url).sso_token("abc123", PROFILE, plenty_of_time)

    assert server.connections == 3


def test_server_that_never_completes_the_tls_handshake_is_partner_api_timeout(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        stopping.wait(30)  # TCP accepted, not a byte of TLS sent back

    server = raw_server(handle, tls=False)

    # Not the server's hang-up after 30 s (a connection error): the 2 s connect timeout covers the handshake.
    with pytest.raises(PartnerApiTimeout):
        make_client(server.url, read_timeout=1.0).sso_token("abc123", PROFILE, plenty_of_time)


def test_server_that_never_answers_is_partner_api_timeout_within_the_read_timeout(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        stopping.wait(30)

    server = raw_server(handle)
    client = make_client(server.url, read_timeout=1.0)

    with pytest.raises(PartnerApiTimeout) as raised:  # not the hang-up after 30 s
        client.sso_token("abc123", PROFILE, plenty_of_time)

    assert raised.value.code == "partner_api_timeout"
    assert server.connections == 1  # a read timeout is not retried: it already spent the budget


def test_remaining_time_below_the_margin_is_timeout_without_any_request(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    serve(partner_server, ok())

    with pytest.raises(PartnerApiTimeout):
        client.sso_token("abc123", PROFILE, lambda: 0.6)

    assert partner_server.log == []


def test_read_timeout_is_cut_to_the_remaining_time(
    make_client: Callable[..., PartnerApiClient], raw_server: Callable[..., RawServer]
) -> None:
    token = sso_token_value()

    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        if not stopping.wait(3):
            conn.sendall(http_answer(200, json.dumps(user_document(token)).encode()))

    server = raw_server(handle)
    # The answer comes after 3 s, inside the read timeout (8 s): only the time left (1.5 s) can cut it.
    client = make_client(server.url, read_timeout=8.0)

    with pytest.raises(PartnerApiTimeout):
        client.sso_token("abc123", PROFILE, lambda: 1.5)


# ---- a user's tracks (grade passback) ---------------------------------------------------------------
TRACKS_PATH = re.compile(r"^/api/users/[^/]+/tracks$")
TRACKS = {"tracks": [{"title": "Fast Track", "progress": 0.5, "tracks": []}]}


def serve_tracks(partner_server: HTTPServer, *answers: tuple[int, Any, dict[str, str]]) -> Script:
    script = Script(*answers)
    partner_server.expect_request(TRACKS_PATH, method="GET").respond_with_handler(script)
    return script


def test_tracks_are_a_get_of_the_users_tracks_with_the_key_and_no_body(
    client: PartnerApiClient, partner_server: HTTPServer
) -> None:
    script = serve_tracks(partner_server, (200, TRACKS, {}))

    assert client.user_tracks("lti-abc", plenty_of_time) == TRACKS["tracks"]
    assert [r["path"] for r in script.requests] == ["/api/users/lti-abc/tracks"]
    assert script.requests[0]["headers"]["Authorization"] == API_KEY
    assert script.requests[0]["body"] == b""
    assert "Content-Type" not in script.requests[0]["headers"]


def test_tracks_of_an_unknown_user_are_none(client: PartnerApiClient, partner_server: HTTPServer) -> None:
    serve_tracks(partner_server, (404, {"error": "not found"}, {}))

    assert client.user_tracks("lti-unknown", plenty_of_time) is None


@pytest.mark.parametrize("answer", [(500, {"error": "boom"}, {}), (200, {"tracks": "none"}, {})])
def test_tracks_failing_or_misshapen_are_partner_api_error(
    client: PartnerApiClient, partner_server: HTTPServer, answer: tuple[int, Any, dict[str, str]]
) -> None:
    serve_tracks(partner_server, answer)

    with pytest.raises(PartnerApiError):
        client.user_tracks("lti-abc", plenty_of_time)


def test_tracks_refused_key_is_fetched_again(
    client: PartnerApiClient, api_key: SecretSource, aws: Any, partner_server: HTTPServer
) -> None:
    assert api_key.get() == API_KEY
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({"api_key": ROTATED_API_KEY}))
    script = serve_tracks(partner_server, refused(401), (200, TRACKS, {}))

    assert client.user_tracks("lti-abc", plenty_of_time) == TRACKS["tracks"]
    assert [r["headers"]["Authorization"] for r in script.requests] == [API_KEY, ROTATED_API_KEY]
