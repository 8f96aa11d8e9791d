"""What the local API Gateway needs from ``template.yaml``: the function's routes and limits,
and the HTTP API's CORS configuration.

Only the function's own ``HttpApi`` events are read (``Path`` + ``Method``; none is the
``$default`` route), with its ``Handler``, ``Timeout``, ``MemorySize`` and environment
values that are literals or ``!Ref`` to a parameter with a ``Default``
(``Globals.Function`` supplies defaults, as in SAM). The ``CorsConfiguration`` of the
``AWS::Serverless::HttpApi`` the events name is resolved with given parameter values
(``Ref``, ``Fn::If`` on the template's conditions, ``Fn::Split``, ``Fn::Join``,
``AWS::NoValue``). The template is read by cfn-lint's decoder (``load_template``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROUTE = "$default"
# SAM's own defaults when neither the function nor Globals set them.
SAM_DEFAULT_TIMEOUT_SECONDS = 3
SAM_DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class Route:
    """One HTTP API route. ``path`` may hold ``{name}`` or greedy ``{name+}`` segments."""

    method: str
    path: str

    @property
    def route_key(self) -> str:
        """API Gateway's ``routeKey``, e.g. ``GET /sso`` (or ``$default``)."""
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        """The catch-all ``$default`` route: every method and path no other route serves."""
        return self.path == DEFAULT_ROUTE

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route serves ``method path``, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        if self.is_default:
            return {}
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
        return "{" not in self.path and not self.is_default


@dataclass(frozen=True)
class FunctionSpec:
    """The function as the template declares it."""

    logical_id: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    routes: tuple[Route, ...]
    environment: dict[str, str] = field(default_factory=dict)
    # Every variable the template declares, resolved or not: `sam local invoke --env-vars`
    # (and `make invoke`) override only these.
    environment_names: tuple[str, ...] = ()
    log_format: str | None = None  # LoggingConfig.LogFormat (JSON or Text), when a literal


def load_template(path: Path) -> dict[str, Any]:
    """A SAM/CloudFormation template (YAML or JSON) as cfn-lint reads it, in plain dicts and lists.

    The one template reader of the project (the tests read the templates through it too).
    cfn-lint's decoder turns short tags into their long form (``!Ref X`` into
    ``{"Ref": "X"}``, ``!GetAtt A.B`` into ``{"Fn::GetAtt": ["A", "B"]}``) and refuses what
    CloudFormation would, such as duplicate keys.
    """
    # Imported here: cfn-lint takes about 1.5 s to import, paid only when a template is read.
    from cfnlint.decode import decode_str

    decoded, problems = decode_str(path.read_text(encoding="utf-8"))
    if problems or decoded is None:
        raise ValueError(f"{path} is not a template: " + "; ".join(str(problem) for problem in problems))
    # cfn-lint's node classes (with line marks) become plain values.
    document = json.loads(json.dumps(decoded, default=str))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a template (top level is not a mapping)")
    return document


def _serves_http(function: dict[str, Any]) -> bool:
    events = (function.get("Properties") or {}).get("Events") or {}
    return any(isinstance(event, dict) and event.get("Type") == "HttpApi" for event in events.values())


def read_function_spec(path: Path, logical_id: str | None = None) -> FunctionSpec:
    """The ``AWS::Serverless::Function`` named ``logical_id`` (or the only one serving HttpApi routes)."""
    template = load_template(path)
    resources: dict[str, Any] = template.get("Resources") or {}
    functions = {
        name: resource
        for name, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }
    if logical_id is None:
        # The API's function: a scheduled one (grade passback) serves no route.
        serving = [name for name, function in functions.items() if _serves_http(function)]
        if len(serving) != 1:
            raise ValueError(
                f"{path}: expected one AWS::Serverless::Function with HttpApi events, found {sorted(serving)}"
            )
        logical_id = serving[0]
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
        routes.append(Route(method, str(event_properties.get("Path", DEFAULT_ROUTE))))

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
        # Literal routes first, $default last: API Gateway prefers the most specific match.
        routes=tuple(sorted(routes, key=lambda route: (route.is_default, not route.is_literal))),
        environment=environment,
        environment_names=tuple(str(name) for name in variables),
        log_format=_literal_or_parameter_default(
            (properties.get("LoggingConfig") or {}).get("LogFormat"), parameters
        ),
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


@dataclass(frozen=True)
class CorsConfiguration:
    """An HTTP API's ``CorsConfiguration``, as API Gateway applies it."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins


_NO_VALUE = object()


def read_cors_configuration(
    path: Path, parameters: Mapping[str, str] | None = None, logical_id: str | None = None
) -> CorsConfiguration | None:
    """The CORS configuration of the HTTP API serving the function's routes, or None.

    ``parameters`` gives stack parameter values (others take their ``Default``), as a
    deployment would; the HTTP API is the one the function's ``HttpApi`` events name.
    """
    template = load_template(path)
    resources: dict[str, Any] = template.get("Resources") or {}
    function = resources[read_function_spec(path, logical_id).logical_id]
    api_ids = {
        str((event.get("Properties") or {}).get("ApiId", {}).get("Ref", "ServerlessHttpApi"))
        for event in ((function.get("Properties") or {}).get("Events") or {}).values()
        if isinstance(event, dict) and event.get("Type") == "HttpApi"
    }
    if len(api_ids) != 1:
        raise ValueError(f"{path}: expected the function's routes on one HTTP API, found {sorted(api_ids)}")
    api = resources.get(api_ids.pop()) or {}
    globals_ = (template.get("Globals") or {}).get("HttpApi") or {}
    raw = {**globals_, **(api.get("Properties") or {})}.get("CorsConfiguration")
    value = Intrinsics(template, parameters or {}).resolve(raw)
    if value is _NO_VALUE or value is None or value is False:
        return None
    if value is True:  # SAM: `CorsConfiguration: true` allows every origin
        return CorsConfiguration(allow_origins=("*",))
    if not isinstance(value, dict):
        raise ValueError(f"{path}: CorsConfiguration resolves to {value!r}")

    def strings(name: str) -> tuple[str, ...]:
        return tuple(str(item) for item in value.get(name) or ())

    max_age = value.get("MaxAge")
    return CorsConfiguration(
        allow_origins=strings("AllowOrigins"),
        allow_methods=strings("AllowMethods"),
        allow_headers=strings("AllowHeaders"),
        expose_headers=strings("ExposeHeaders"),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=bool(value.get("AllowCredentials", False)),
    )


class Intrinsics:
    """CloudFormation's intrinsic functions over a template, with given parameter values.

    Enough for what a deployment resolves in this project's template: ``Ref`` (parameters,
    pseudo parameters, resources via ``references``), ``Fn::If`` on the template's
    conditions, ``Fn::Sub``, ``Fn::Join``, ``Fn::Split``, ``Fn::Select``, ``Fn::GetAtt``
    (via ``references``) and ``AWS::NoValue`` (dropped from lists and mappings).
    """

    def __init__(
        self,
        template: dict[str, Any],
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str] | None = None,
        references: Mapping[str, str] | None = None,
    ) -> None:
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        declared: dict[str, Any] = template.get("Parameters") or {}
        self.names: dict[str, str] = {
            name: str(parameters[name]) if name in parameters else str(spec.get("Default", ""))
            for name, spec in declared.items()
        }
        self.names.update(pseudo or {})
        self.names.update(references or {})

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self.names[argument]
            if name == "Fn::GetAtt":
                return self.names[".".join(argument) if isinstance(argument, list) else argument]
            if name == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            if name == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if name == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if name == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if name == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                names = {**self.names, **{k: str(self.resolve(v)) for k, v in variables.items()}}
                return re.sub(r"\$\{([^}!]+)\}", lambda match: names[match.group(1)], text)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def condition(self, name: str) -> bool:
        return self.truth(self.conditions[name])

    def truth(self, expression: Any) -> bool:
        ((name, argument),) = expression.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Not":
            return not self.truth(argument[0])
        if name == "Fn::And":
            return all(self.truth(item) for item in argument)
        if name == "Fn::Or":
            return any(self.truth(item) for item in argument)
        if name == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        raise ValueError(f"unsupported condition function {name}")
