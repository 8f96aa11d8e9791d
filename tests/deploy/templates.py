"""The deploy tests' view of the templates: each as the project's one template reader
(``infra.local.sam_template.load_template``, cfn-lint's decoder) gives it, a function's
properties as SAM merges ``Globals`` into them, and template.yaml as the SAM transform
turns it into plain CloudFormation."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from infra.local.sam_template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
MONITORING_PATH = ROOT / "infra" / "deploy" / "monitoring.yaml"


@cache
def _load(path: Path) -> str:
    return json.dumps(load_template(path))


def load(path: Path) -> dict[str, Any]:
    """A fresh copy of the decoded template (short tags become ``Fn::...`` / ``Ref``)."""
    return json.loads(_load(path))  # type: ignore[no-any-return]


def function_properties(template: dict[str, Any], logical_id: str = "SsoFunction") -> dict[str, Any]:
    """A function's properties with the template's ``Globals`` merged in, by SAM's own rules."""
    from samtranslator.plugins.globals.globals import Globals

    properties = copy.deepcopy(template["Resources"][logical_id]["Properties"])
    merged = Globals(copy.deepcopy(template)).merge("AWS::Serverless::Function", properties, logical_id)
    return merged  # type: ignore[no-any-return]


class _ManagedPolicies:
    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


@cache
def _transformed() -> str:
    from samtranslator.translator.transform import transform

    template = load(TEMPLATE_PATH)
    # What `sam package` does before the transform runs in CloudFormation.
    for function in ("SsoFunction", "GradeSyncFunction"):
        template["Resources"][function]["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    template["Resources"]["Monitoring"]["Properties"]["Location"] = (
        "https://s3.amazonaws.com/bucket/monitoring.template"
    )
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):
        processed = transform(template, {}, _ManagedPolicies())
    return json.dumps(processed)


def transformed() -> dict[str, Any]:
    """template.yaml after the AWS::Serverless-2016-10-31 transform (samtranslator)."""
    return json.loads(_transformed())  # type: ignore[no-any-return]


def rule_accepts(template: dict[str, Any], rule_name: str, values: dict[str, str]) -> bool:
    """Whether CloudFormation's rule ``rule_name`` accepts these parameters (the others at their defaults)."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    parameters.update(values)

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict):
            ((function, argument),) = node.items()
            if function == "Ref":
                return parameters[argument]
            if function == "Fn::Equals":
                return str(evaluate(argument[0])) == str(evaluate(argument[1]))
            if function == "Fn::Not":
                return not evaluate(argument[0])
            if function == "Fn::And":
                return all(evaluate(a) for a in argument)
            if function == "Fn::Or":
                return any(evaluate(a) for a in argument)
            raise AssertionError(f"{function} is not evaluated here")
        return node

    rule = template["Rules"][rule_name]
    applies = evaluate(rule.get("RuleCondition", True))
    return not applies or all(evaluate(assertion["Assert"]) for assertion in rule["Assertions"])
