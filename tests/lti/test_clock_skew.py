"""Clock skew between the LMS and the service: the LTI leeway (``LTI_LEEWAY_SECONDS``, 120 s by default).

LMS servers' clocks drift; a launch refused for it cannot be fixed by the student. Within the
leeway an id_token signed by a fast or slow clock signs the student in; beyond it, the refusal's
detail names the skew found and the skew allowed, in seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from handler.config import load_config
from handler.errors import ConfigError
from tests.lti.conftest import Tool


def detail(result: dict[str, object]) -> str:
    found = re.search(
        r'<section class="dev"[^>]*>\s*<h2[^>]*>[^<]*</h2>\s*<p>([^<]*)</p>', str(result["body"])
    )
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("skew", [-100, 100])
def test_a_platform_clock_off_by_100_seconds_still_signs_the_student_in(tool: Tool, skew: int) -> None:
    login = tool.login()
    now = int(time.time()) + skew  # the platform's clock
    result = tool.launch(tool.token(login.nonce, iat=now, exp=now + 60), login.state, login.cookie)
    assert result["statusCode"] == 302
    assert len(tool.partner_api.calls) == 1


def test_an_id_token_from_300_seconds_in_the_future_names_the_skew(tool: Tool) -> None:
    login = tool.login()
    now = int(time.time()) + 300
    result = tool.launch(tool.token(login.nonce, iat=now, exp=now + 300), login.state, login.cookie)
    assert result["statusCode"] == 401 and "<code>token_not_yet_valid</code>" in str(result["body"])
    assert re.fullmatch(
        r"iat is (299|300) s in the future; the service allows 120 s of clock skew: "
        r"check the minting server&#x27;s clock",
        detail(result),
    )
    assert tool.partner_api.calls == []


def test_an_id_token_expired_300_seconds_ago_names_the_skew(tool: Tool) -> None:
    login = tool.login()
    now = int(time.time()) - 600
    result = tool.launch(tool.token(login.nonce, iat=now, exp=now + 300), login.state, login.cookie)
    assert result["statusCode"] == 401 and "<code>token_expired</code>" in str(result["body"])
    assert re.fullmatch(r"exp was (300|301) s ago; the service allows 120 s of clock skew", detail(result))
    assert tool.partner_api.calls == []


def test_the_leeway_is_a_setting(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(LTI_LEEWAY_SECONDS="10")
    login = tool.login()
    now = int(time.time()) + 100
    result = tool.launch(tool.token(login.nonce, iat=now, exp=now + 60), login.state, login.cookie)
    assert result["statusCode"] == 401
    assert "the service allows 10 s of clock skew" in detail(result)
    assert tool.partner_api.calls == []


@pytest.mark.parametrize("value", ["601", "-1", "two minutes"])
def test_a_leeway_outside_0_to_600_seconds_is_a_configuration_error(value: str) -> None:
    environment = {
        "BI_ORG": "x",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://i",
        "JWT_AUDIENCE": "a",
        "LTI_STATE_TABLE_NAME": "t",
        "PARTNER_REGISTRY_TABLE": "registry",
        "LTI_LEEWAY_SECONDS": value,
    }
    with pytest.raises(ConfigError) as raised:
        load_config(environment)
    assert [problem for problem in raised.value.problems if "LTI_LEEWAY_SECONDS" in problem]
