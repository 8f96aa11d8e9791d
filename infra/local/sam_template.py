"""What the local API Gateway needs from ``template.yaml``: the function's routes and limits.

Only the function's own ``HttpApi`` events are read (``Path`` + ``Method``), with
its ``Handler``, ``Timeout``, ``MemorySize`` and environment values that are
literals or ``!Ref`` to a parameter with a ``Default`` (``Globals.Function``
supplies defaults, as in SAM). CloudFormation short tags
(``!Ref``, ``!Sub``, ...) are tolerated and become ``{"Fn::...": ...}`` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# SAM's own defaults when neither the function nor Globals set them.
SAM_DEFAULT_TIMEOUT_SECONDS = 3
SAM_DEFAULT_MEMORY_MB = 128


class _CloudFormationLoader(yaml.SafeLoader):
    """A safe loader that also accepts CloudFormation short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    """One HTTP API route. ``path`` may hold ``{name}`` or greedy ``{name+}`` segments."""

    method: str
    path: str

    @property
    def route_key(self) -> str:
        """API Gateway's ``routeKey``, e.g. ``GET /sso``."""
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route serves ``method path``, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        pattern = "^"
        for segment in self.path.strip("/").split("/"):
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            plain = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                pattern += rf"/(?P<{greedy.group(1)}>.+)"
            elif plain:
                pattern += rf"/(?P<{plain.group(1)}>[^/]+)"
            elif segment:
                pattern += "/" + re.escape(segment)
        # Exact match, as API Gateway does: "/sso/" is not "/sso".
        found = re.fullmatch(pattern + "$" if pattern != "^" else "^/$", path)
        return found.groupdict() if found else None

    @property
    def is_literal(self) -> bool:
        """True when the path has no parameters (API Gateway prefers such routes)."""
        return "{" not in self.path


@dataclass(frozen=True)
class FunctionSpec:
    """The function as the template declares it."""

    logical_id: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    routes: tuple[Route, ...]
    environment: dict[str, str] = field(default_factory=dict)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML template."""
    document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - safe subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a template (top level is not a mapping)")
    return document


def read_function_spec(path: Path, logical_id: str | None = None) -> FunctionSpec:
    """The ``AWS::Serverless::Function`` named ``logical_id`` (or the only one) and its HttpApi routes."""
    template = load_template(path)
    resources: dict[str, Any] = template.get("Resources") or {}
    functions = {
        name: resource
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }
    if logical_id is None:
        if len(functions) != 1:
            raise ValueError(f"{path}: expected one AWS::Serverless::Function, found {sorted(functions)}")
        logical_id = next(iter(functions))
    if logical_id not in functions:
        raise ValueError(f"{path}: no AWS::Serverless::Function named {logical_id}")
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    properties = {**globals_, **(functions[logical_id].get("Properties") or {})}

    routes: list[Route] = []
    for event in (properties.get("Events") or {}).values():
        if not isinstance(event, dict) or event.get("Type") != "HttpApi":
            continue
        event_properties = event.get("Properties") or {}
        # An HttpApi event without Path/Method is the catch-all $default route.
        method = str(event_properties.get("Method", "ANY")).upper()
        if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
            method = "ANY"
        routes.append(Route(method, str(event_properties.get("Path", "/{proxy+}"))))

    variables = ((properties.get("Environment") or {}).get("Variables")) or {}
    parameters: dict[str, Any] = template.get("Parameters") or {}
    environment: dict[str, str] = {}
    for name, value in variables.items():
        resolved = _literal_or_parameter_default(value, parameters)
        if resolved:
            environment[name] = resolved
    return FunctionSpec(
        logical_id=logical_id,
        handler=str(properties.get("Handler", "")),
        timeout_seconds=_int_or(properties.get("Timeout"), SAM_DEFAULT_TIMEOUT_SECONDS),
        memory_mb=_int_or(properties.get("MemorySize"), SAM_DEFAULT_MEMORY_MB),
        # Literal routes first: API Gateway prefers the most specific match.
        routes=tuple(sorted(routes, key=lambda route: not route.is_literal)),
        environment=environment,
    )


def _literal_or_parameter_default(value: Any, parameters: dict[str, Any]) -> str | None:
    """A literal value, or the ``Default`` of the parameter a ``!Ref`` names (as ``sam local`` does)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        value = (parameters.get(str(value["Ref"])) or {}).get("Default")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)


def _int_or(value: Any, default: int) -> int:
    """An integer property, or ``default`` when absent or an intrinsic (e.g. ``!Ref Timeout``)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default
