"""template.yaml's partner registry: off by default; when on, a table the function reads
through Powertools' DynamoDBProvider, and permissions for it and for secrets under the prefix.

cfn-lint, ``sam validate --lint`` and checkov run over the whole template in
test_template.py / test_checkov.py (they evaluate every condition, this one's included);
here are the rules those tools do not know: the names the code and the template share.
"""

from __future__ import annotations

from typing import Any

import pytest

from handler.partner_record import LOOPBACK_BASE_URLS, SECRET_PREFIX
from handler.partners import registry_provider
from tests.deploy.templates import TEMPLATE_PATH, function_properties, load, transformed


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


def test_the_registry_is_a_parameter_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["PartnerRegistry"]

    assert parameter["Default"] == "Disabled"
    assert parameter["AllowedValues"] == ["Enabled", "Disabled"]
    assert "PARTNER_REGISTRY_TABLE" in parameter["Description"]
    assert template["Conditions"]["PartnerRegistryEnabled"] == {
        "Fn::Equals": [{"Ref": "PartnerRegistry"}, "Enabled"]
    }


def test_the_table_is_on_demand_encrypted_recoverable_and_keyed_on_issuer(template: dict[str, Any]) -> None:
    table = template["Resources"]["PartnerRegistryTable"]
    properties = table["Properties"]

    assert table["Condition"] == "PartnerRegistryEnabled"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["KeySchema"] == [{"AttributeName": "issuer", "KeyType": "HASH"}]
    # DynamoDB refuses an attribute definition no key uses: only the hash key is defined.
    assert properties["AttributeDefinitions"] == [{"AttributeName": "issuer", "AttributeType": "S"}]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_provider_reads_the_tables_key_and_the_agreed_value_attribute(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    provider = registry_provider("partners", lambda: None)
    [key] = template["Resources"]["PartnerRegistryTable"]["Properties"]["KeySchema"]

    assert provider.key_attr == key["AttributeName"]
    assert provider.value_attr == "value"


def test_the_function_gets_the_table_name_only_when_the_registry_is_on(template: dict[str, Any]) -> None:
    variables = function_properties(template)["Environment"]["Variables"]

    assert variables["PARTNER_REGISTRY_TABLE"] == {
        "Fn::If": ["PartnerRegistryEnabled", {"Ref": "PartnerRegistryTable"}, ""]
    }


def test_the_registry_policy_is_attached_to_the_functions_generated_role(template: dict[str, Any]) -> None:
    policy = template["Resources"]["PartnerRegistryPolicy"]
    resources = transformed()["Resources"]

    assert policy["Type"] == "AWS::IAM::RolePolicy"
    assert policy["Condition"] == "PartnerRegistryEnabled"
    # SAM names the role it generates for SsoFunction "SsoFunctionRole"; the function names none of its own.
    assert "Role" not in function_properties(template)
    assert resources["SsoFunctionRole"]["Type"] == "AWS::IAM::Role"
    assert policy["Properties"]["RoleName"] == {"Ref": "SsoFunctionRole"}
    assert resources["SsoFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["SsoFunctionRole", "Arn"]}


def test_the_registry_policy_grants_getitem_on_the_table_and_secrets_under_the_prefix(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"]["PartnerRegistryPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert statements == [
        {
            "Sid": "ReadPartnerRecords",
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": {"Fn::GetAtt": ["PartnerRegistryTable", "Arn"]},
        },
        {
            "Sid": "ReadPartnerSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                + SECRET_PREFIX
                + "*"
            },
        },
    ]
    # A prefix ending in "/" cannot match a neighbour such as big-interview-sso-other/.
    assert SECRET_PREFIX.endswith("/")


def test_the_table_name_is_an_output_only_when_the_registry_is_on(template: dict[str, Any]) -> None:
    output = template["Outputs"]["PartnerRegistryTableName"]

    assert output["Condition"] == "PartnerRegistryEnabled"
    assert output["Value"] == {"Ref": "PartnerRegistryTable"}


def test_the_deployed_function_can_never_allow_loopback_base_urls_in_records(
    template: dict[str, Any],
) -> None:
    # The local stack's setting: a record's Partner API on loopback. No variable, parameter or
    # Globals entry of the template may name it, so a deployed function never has it.
    text = TEMPLATE_PATH.read_text(encoding="utf-8")

    assert LOOPBACK_BASE_URLS not in text
    assert LOOPBACK_BASE_URLS not in function_properties(template)["Environment"]["Variables"]
