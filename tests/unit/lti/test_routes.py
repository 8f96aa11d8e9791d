"""handler.lti.routes: the state cookie the login sets (the routes themselves: tests/lti/test_launch.py)."""

from __future__ import annotations

from aws_lambda_powertools.shared.cookies import Cookie

from handler.lti.routes import _state_cookie


def test_the_state_cookie_is_powertools_own_with_partitioned_as_a_custom_attribute() -> None:
    # No cookie code of our own: Powertools' Cookie writes Partitioned (custom_attributes).
    cookie = _state_cookie("__Host-lti-state-0123456789abcdef", "binding", 600)
    assert type(cookie) is Cookie and cookie.custom_attributes == ["Partitioned"]
    assert str(cookie) == (
        "__Host-lti-state-0123456789abcdef=binding; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=None"
        "; Partitioned"
    )
