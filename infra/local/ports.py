"""The local stack's ports: where each server listens, the variable that moves it, whether it is free.

Standard library only: ``make doctor`` reads it before any virtual environment exists.
Every fixed port is distinct whatever runs together (``LTI=1`` and ``PARTNERS=n`` too).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

__all__ = ["DEMO_PARTNER_FIRST_PORT", "PortUse", "Ports", "port_is_free", "taken_port_message"]

LOOPBACK = "127.0.0.1"
# Demo partner n (PARTNERS=n) takes two ports: its identity provider at
# DEMO_PARTNER_FIRST_PORT + 2 (n - 1) and its sandbox Big Interview at the next one.
DEMO_PARTNER_FIRST_PORT = 3005


@dataclass(frozen=True)
class PortUse:
    """One port the stack will take, what takes it, and how the user moves it."""

    port: int
    what: str
    variable: str


@dataclass(frozen=True)
class Ports:
    """Where each server listens; 0 picks a free port."""

    api: int = 3000
    identity_provider: int = 3001
    big_interview: int = 3002
    secrets_manager: int = 3003
    lms: int = 3004

    # The environment variable that overrides each port.
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "api": "LOCAL_API_PORT",
        "identity_provider": "LOCAL_IDP_PORT",
        "big_interview": "LOCAL_BI_PORT",
        "secrets_manager": "LOCAL_SECRETS_PORT",
        "lms": "LOCAL_LMS_PORT",
    }
    DESCRIPTIONS: ClassVar[dict[str, str]] = {
        "api": "the local API Gateway",
        "identity_provider": "the development identity provider",
        "big_interview": "the sandbox Big Interview",
        "secrets_manager": "moto (Secrets Manager, DynamoDB, KMS)",
        "lms": "the sandbox learning platform (LTI=1)",
    }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Ports:
        """Defaults, overridden by the variables in ``ENV_NAMES`` (``LOCAL_API_PORT``, ...)."""
        values: dict[str, int] = {}
        for item in fields(cls):
            raw = environ.get(cls.ENV_NAMES[item.name], "").strip()
            if raw:
                if not raw.isdigit() or int(raw) > 65535:
                    raise ValueError(f"{cls.ENV_NAMES[item.name]} must be a port number, got {raw!r}")
                values[item.name] = int(raw)
        return cls(**values)

    @classmethod
    def ephemeral(cls) -> Ports:
        """Every server on a free port (tests)."""
        return cls(**{item.name: 0 for item in fields(cls)})

    @property
    def fixed_demo_ports(self) -> bool:
        """Demo partners take the fixed ports beside the default ones; otherwise free ports."""
        return self.identity_provider == Ports().identity_provider

    def demo_partner_ports(self, number: int) -> tuple[int, int]:
        """Demo partner ``number``'s (identity provider, sandbox Big Interview) ports; 0: a free one."""
        if not self.fixed_demo_ports:
            return 0, 0
        first = DEMO_PARTNER_FIRST_PORT + 2 * (number - 1)
        return first, first + 1

    def plan(self, *, lti: bool = False, demo_partners: int = 0) -> list[PortUse]:
        """Every fixed port ``make dev`` with these options takes (ports of 0 are free by choice)."""
        uses = [
            PortUse(getattr(self, item.name), self.DESCRIPTIONS[item.name], self.ENV_NAMES[item.name])
            for item in fields(self)
            if item.name != "lms" or lti
        ]
        for number in range(1, demo_partners + 1):
            idp, big_interview = self.demo_partner_ports(number)
            fewer = f"PARTNERS={number - 1}, or LOCAL_IDP_PORT (demo partners then take free ports)"
            uses += [
                PortUse(idp, f"demo partner {number}'s identity provider", fewer),
                PortUse(big_interview, f"demo partner {number}'s sandbox Big Interview", fewer),
            ]
        return [use for use in uses if use.port]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``host:port`` now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def taken_port_message(use: PortUse) -> str:
    """One line: which port, whose, and how to move it."""
    how = use.variable if "," in use.variable else f"{use.variable}=<another port>"
    return f"port {use.port} ({use.what}) is already in use: stop what uses it, or move it with {how}"
