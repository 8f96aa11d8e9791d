"""What CloudFormation demands of a deployment, checked against samconfig.toml and the docs.

CloudFormation refuses a stack whose template needs a capability the deployer did not
acknowledge ("Requires capabilities: [...]"): CAPABILITY_IAM for IAM resources,
CAPABILITY_NAMED_IAM when they carry custom names, CAPABILITY_AUTO_EXPAND for nested
applications (``AWS::Serverless::Application``, which the SAM transform turns into a
nested stack). The capabilities are derived here from the template as SAM translates it,
then every samconfig.toml environment and every ``sam deploy`` command the docs show
must grant them. Every parameter override in samconfig.toml must be one the template
declares, with a value its constraints accept (tests/deploy/test_template.py ``accepts``).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from tests.deploy.templates import ROOT, TEMPLATE_PATH, load, transformed
from tests.deploy.test_template import accepts

SAMCONFIG = ROOT / "samconfig.toml"
# The documents that tell a reader how to deploy.
DEPLOY_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# IAM resource types whose custom name (this property) needs CAPABILITY_NAMED_IAM.
IAM_NAME_PROPERTIES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}
NESTED = {"AWS::Serverless::Application", "AWS::CloudFormation::Stack"}


def required_capabilities(source: dict[str, Any], translated: dict[str, Any]) -> set[str]:
    """The capabilities CloudFormation requires to create ``source`` (translated: after SAM)."""
    needed = set()
    for resource in translated["Resources"].values():
        kind = resource["Type"]
        if kind.startswith("AWS::IAM::"):
            named = IAM_NAME_PROPERTIES.get(kind)
            needed.add(
                "CAPABILITY_NAMED_IAM" if named in resource.get("Properties", {}) else "CAPABILITY_IAM"
            )
    if "Transform" in source and any(r["Type"] in NESTED for r in source["Resources"].values()):
        needed.add("CAPABILITY_AUTO_EXPAND")
    return needed


def granted(value: str | list[str]) -> set[str]:
    """samconfig's ``capabilities``: a space-separated string or a list."""
    return set(value.split() if isinstance(value, str) else value)


def satisfied(required: set[str], given: set[str]) -> set[str]:
    """What is missing from ``given`` (NAMED_IAM covers IAM, as CloudFormation accepts)."""
    if "CAPABILITY_NAMED_IAM" in given:
        given = given | {"CAPABILITY_IAM"}
    return required - given


def deploy_commands(text: str) -> list[list[str]]:
    """Every ``sam deploy`` command in a Markdown text: code-block lines and inline code."""
    commands = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        fragments = [line] if in_block else re.findall(r"`([^`]*)`", line)
        for fragment in fragments:
            if "sam deploy" not in fragment:
                continue
            words = shlex.split(fragment.split("#", 1)[0])
            for i, word in enumerate(words[:-1]):
                if word.endswith("sam") and words[i + 1] == "deploy":
                    end = next((j for j in range(i, len(words)) if words[j] in ("&&", ";", "|")), len(words))
                    commands.append(words[i:end])
    return commands


def command_problems(command: list[str], required: set[str], config: dict[str, Any]) -> list[str]:
    """Why ``sam deploy ...`` would miss a capability: its own flag, else its samconfig environment's."""
    if "--capabilities" in command:
        at = command.index("--capabilities") + 1
        given = set()
        while at < len(command) and not command[at].startswith("--"):
            given.add(command[at])
            at += 1
    else:
        env = command[command.index("--config-env") + 1] if "--config-env" in command else "default"
        given = granted(config.get(env, {}).get("deploy", {}).get("parameters", {}).get("capabilities", ""))
    missing = satisfied(required, given)
    return [f"{shlex.join(command)}: missing {sorted(missing)}"] if missing else []


def override_problems(env: str, overrides: list[str], parameters: dict[str, Any]) -> list[str]:
    """Overrides the template does not declare, or whose value its constraints refuse."""
    found = []
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in parameters:
            found.append(f"{env}: {name} is not a template parameter")
        elif not accepts(parameters[name], value):
            found.append(f"{env}: {name}={value!r} is refused by the parameter's constraints")
    return found


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def required() -> set[str]:
    return required_capabilities(load(TEMPLATE_PATH), transformed())


def test_the_template_needs_iam_and_auto_expand(required: set[str]) -> None:
    # The function's role (SAM makes one) and the nested monitoring application.
    assert required == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}


def test_every_samconfig_environment_grants_the_required_capabilities(
    config: dict[str, Any], required: set[str]
) -> None:
    environments = [env for env in config if isinstance(config[env], dict) and "deploy" in config[env]]
    assert set(environments) == {"default", "staging", "prod"}
    for env in environments:
        given = granted(config[env]["deploy"]["parameters"]["capabilities"])
        assert satisfied(required, given) == set(), env


def test_every_documented_deploy_command_grants_the_required_capabilities(
    config: dict[str, Any], required: set[str]
) -> None:
    problems = []
    commands = 0
    for document in DEPLOY_DOCS:
        for command in deploy_commands(document.read_text(encoding="utf-8")):
            commands += 1
            problems += [f"{document.name}: {p}" for p in command_problems(command, required, config)]
    assert commands >= 3  # README's --guided and --config-env prod, operations.md's rollback
    assert problems == []


def test_the_capability_rule_catches_what_cloudformation_would_refuse() -> None:
    # samconfig.toml as it was: CAPABILITY_IAM alone, with the nested application in the template.
    old = {"prod": {"deploy": {"parameters": {"capabilities": "CAPABILITY_IAM"}}}}
    required = {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert command_problems(["sam", "deploy", "--config-env", "prod"], required, old) == [
        "sam deploy --config-env prod: missing ['CAPABILITY_AUTO_EXPAND']"
    ]
    assert command_problems(["sam", "deploy", "--capabilities", "CAPABILITY_IAM"], required, old)
    assert command_problems(["sam", "deploy"], required, old)  # no default environment at all
    # The derivation itself: a named role needs NAMED_IAM; no nested stack, no AUTO_EXPAND.
    source = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"F": {"Type": "AWS::Serverless::Function"}},
    }
    named = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r"}}}}
    assert required_capabilities(source, named) == {"CAPABILITY_NAMED_IAM"}
    assert required_capabilities(load(TEMPLATE_PATH), {"Resources": {}}) == {"CAPABILITY_AUTO_EXPAND"}


def test_samconfig_overrides_are_template_parameters_with_allowed_values(config: dict[str, Any]) -> None:
    parameters = load(TEMPLATE_PATH)["Parameters"]
    problems = []
    for env, sections in config.items():
        if isinstance(sections, dict) and "deploy" in sections:
            problems += override_problems(
                env, sections["deploy"]["parameters"]["parameter_overrides"], parameters
            )
    assert problems == []


def test_the_override_rule_catches_unknown_parameters_and_refused_values() -> None:
    parameters = load(TEMPLATE_PATH)["Parameters"]
    found = override_problems(
        "prod", ["LogLevel=VERBOSE", "BiOrgName=xyz", "BiOrg=Not A Label", "LogLevel=INFO"], parameters
    )
    assert found == [
        "prod: LogLevel='VERBOSE' is refused by the parameter's constraints",
        "prod: BiOrgName is not a template parameter",
        "prod: BiOrg='Not A Label' is refused by the parameter's constraints",
    ]


def test_deploy_commands_are_found_in_code_blocks_and_inline_code() -> None:
    text = "```bash\n.venv/bin/sam deploy --config-env prod   # later\n```\nthen `sam deploy` again\n"
    assert deploy_commands(text) == [[".venv/bin/sam", "deploy", "--config-env", "prod"], ["sam", "deploy"]]
