"""handler.lti.errors: the launch's refusals, each with its own ``lti_`` code, in the one hierarchy."""

from __future__ import annotations

import pytest

from handler import errors
from handler.errors import SsoError
from handler.lti import errors as lti_errors


def lti_refusals() -> list[type[SsoError]]:
    return [getattr(lti_errors, name) for name in lti_errors.__all__]


def test_every_refusal_of_the_module_is_exported() -> None:
    defined = {
        name
        for name, value in vars(lti_errors).items()
        if isinstance(value, type) and issubclass(value, SsoError) and value.__module__ == lti_errors.__name__
    }
    assert defined == set(lti_errors.__all__)


def test_each_code_is_its_own_and_none_is_a_partner_sign_ins() -> None:
    codes = [vars(cls)["code"] for cls in lti_refusals()]
    partner_codes = {getattr(errors, name).code for name in errors.__all__ if name != "ConfigError"}

    assert all(code.startswith("lti_") for code in codes)
    assert len(set(codes)) == len(codes)
    assert not set(codes) & partner_codes


@pytest.mark.parametrize("cls", lti_refusals(), ids=lambda cls: cls.__name__)
def test_each_refusal_keeps_its_kinds_status_and_speaks_to_the_student(cls: type[SsoError]) -> None:
    kind: type[SsoError] = next(base for base in cls.__mro__[1:] if base.__module__ == errors.__name__)

    assert cls.status == kind.status  # a platform and a browser see the kind of refusal they expect
    assert cls.message != kind.message and cls.message.endswith(".")
    assert "id_token" not in cls.message and "nonce" not in cls.message
