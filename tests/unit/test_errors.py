"""handler.errors: one code, status and user sentence per refusal; detail, log detail, expected, found."""

from __future__ import annotations

import pytest

from handler import errors
from handler.errors import ConfigError, LinkAlreadyUsed, PartnerApiError, SsoError, UnknownKey


def every_error() -> list[type[SsoError]]:
    found: list[type[SsoError]] = []
    pending = [SsoError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


def test_every_error_of_the_module_is_exported_and_no_two_define_one_code() -> None:
    classes = every_error()
    # A subclass may keep its parent's code with a sentence of its own (InvalidReturnUrl).
    codes = [vars(cls)["code"] for cls in classes if "code" in vars(cls)]

    assert sorted(cls.__name__ for cls in classes) == sorted(n for n in errors.__all__ if n != "ConfigError")
    assert len(set(codes)) == len(codes), "a code names one refusal"


@pytest.mark.parametrize("cls", every_error(), ids=lambda cls: cls.__name__)
def test_every_error_has_a_status_and_a_sentence_for_the_user(cls: type[SsoError]) -> None:
    assert cls.status in {400, 401, 403, 404, 409, 413, 422, 500, 502, 503, 504}
    assert cls.message.endswith((".", ")"))
    assert cls.code == cls.code.lower() and " " not in cls.code


def test_the_detail_is_the_log_detail_unless_the_log_is_told_more() -> None:
    plain = UnknownKey("kid 'k' is not in the JWKS", expected=["a"], found="k")
    more = PartnerApiError(
        "the Partner API answered 500", log_detail="500: upstream trace id 42", partner_status=500
    )

    assert (plain.detail, plain.log_detail, str(plain)) == (("kid 'k' is not in the JWKS",) * 3)
    assert (plain.expected, plain.found, plain.partner_status) == (["a"], "k", None)
    assert (more.detail, more.log_detail, str(more), more.partner_status) == (
        "the Partner API answered 500",
        "500: upstream trace id 42",
        "500: upstream trace id 42",
        500,
    )
    assert str(SsoError()) == "internal_error"


def test_a_spent_link_adds_that_reloading_cannot_help() -> None:
    error = LinkAlreadyUsed()

    assert error.user_message() == LinkAlreadyUsed.message
    assert error.user_message(link_spent=True).startswith(
        LinkAlreadyUsed.message + " This sign-in link is now used up"
    )


def test_a_configuration_error_lists_every_problem() -> None:
    error = ConfigError(["BI_ORG is required", "JWT_ISSUER is required"])

    assert error.problems == ["BI_ORG is required", "JWT_ISSUER is required"]
    assert str(error) == "invalid configuration: BI_ORG is required; JWT_ISSUER is required"
