"""docs/lti.md: every LTI refusal has a troubleshooting row with its status, and its values match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from handler.errors import SsoError
from handler.lti import errors as lti_errors
from handler.lti import tool_key
from handler.lti.deep_linking import ChoiceRefused, ContentTypeNotAccepted, PickerExpired
from handler.lti.service import PRIVACY_SETTINGS
from tests.doc_blocks import code_blocks

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "lti.md").read_text()


def lti_error_classes() -> list[type[SsoError]]:
    classes = [getattr(lti_errors, name) for name in lti_errors.__all__]
    deep_linking_errors = [ContentTypeNotAccepted, ChoiceRefused, PickerExpired]
    return [*classes, tool_key.ToolKeyUnavailable, *deep_linking_errors]


def test_every_lti_code_has_a_troubleshooting_row_with_its_status() -> None:
    section = GUIDE.split("## Troubleshooting", 1)[1]
    rows = dict(re.findall(r'^\| <a id="([a-z_]+)"></a>`[a-z_]+` \| (\d{3}) \|', section, flags=re.M))
    for cls in lti_error_classes():
        assert rows.get(cls.code) == str(cls.status), cls.code


def test_the_error_pages_name_this_guide() -> None:
    from handler.lti.routes import LTI_GUIDE

    assert "(docs/lti.md" in LTI_GUIDE


def test_the_canvas_developer_key_json_is_valid_and_uses_the_three_urls() -> None:
    key = json.loads(code_blocks("docs/lti.md", "json")[0])
    assert key["oidc_initiation_url"].endswith("/lti/login")
    assert key["target_link_uri"].endswith("/lti/launch")
    assert key["public_jwk_url"].endswith("/lti/jwks")
    assert key["extensions"][0]["privacy_level"] == "public"


def test_the_privacy_settings_on_the_error_page_are_the_guides() -> None:
    for setting in (
        "Privacy Level",
        "Share launcher's email with tool",
        "User Fields to Send",
        "Security Settings",
    ):
        assert setting in PRIVACY_SETTINGS and setting in GUIDE


def test_the_guides_registry_record_is_what_make_partner_add_accepts() -> None:
    from handler.lti.registrations import registry_key, registry_registration

    section = GUIDE.split("## Several platforms: registrations in the partner registry", 1)[1]
    record = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])

    registration = registry_registration(registry_key(record["iss"], record["client_id"]), record)

    assert registration.enabled and registration.api_key_secret_id.startswith("big-interview-sso/")
    assert "make partner-add FILE=" in section and "make partner-disable PARTNER='lti|" in section


def test_the_example_registry_registration_is_one_partner_add_accepts() -> None:
    from handler.lti.registrations import registry_key, registry_registration

    section = GUIDE.split("## Several platforms", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, flags=re.S)
    assert block
    record = json.loads(block.group(1))
    record = {name: value for name, value in record.items() if value is not None}

    registration = registry_registration(registry_key(record["iss"], record["client_id"]), record)

    assert registration.api_key_secret_id.startswith(f"big-interview-sso/{registration.bi_org}/")


def test_the_partner_id_example_is_what_the_service_computes() -> None:
    from handler.lti.claims import lti_partner_id

    section = GUIDE.split("### The student's Big Interview user, exactly", 1)[1].split("###", 1)[0]
    iss, sub, partner_id = re.findall(r"`(https://[^`]+|[0-9a-f]{40}|lti-[A-Za-z0-9_-]{43})`", section)
    assert lti_partner_id(iss, sub) == partner_id and len(partner_id) == 47


def test_the_limits_table_gives_the_codes_values() -> None:
    from handler.lti.claims import MAX_ID_TOKEN_LIFETIME
    from handler.lti.service import LtiService
    from handler.partner_record import LTI_MAX_DEPLOYMENT_IDS, LTI_MAX_ID
    from handler.tokens import MAX_TOKEN_BYTES

    section = GUIDE.split("### Limits", 1)[1].split("## ", 1)[0]
    assert f"at most {MAX_ID_TOKEN_LIFETIME} s" in section
    assert f"| {LtiService.leeway_seconds} s |" in section
    assert f"| {MAX_TOKEN_BYTES // 1024} KiB" in section
    assert f"| {LTI_MAX_ID} characters;" in section and f"| {LTI_MAX_DEPLOYMENT_IDS} |" in section
