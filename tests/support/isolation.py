"""Process-wide state that a test may change, put back after every test.

One context manager per kind of state; ``tests/conftest.py`` applies each around every
test as an autouse fixture, so a test changes what it needs and never restores it by
hand, and no test depends on what an earlier one left behind.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = [
    "IMPORT_TIME_MODULES",
    "forget_aws_sessions",
    "fresh_import",
    "isolated_aws_sessions",
    "isolated_environment",
    "isolated_logging",
    "isolated_modules",
    "isolated_powertools",
]

# Modules whose import does work (reads the environment, builds the handler, registers
# SnapStart hooks): a test that imports one gets it anew, and it is forgotten afterwards.
IMPORT_TIME_MODULES = ("handler.entry_point",)


def _is_pytests(handler: logging.Handler) -> bool:
    """pytest's own capture handlers come and go with each test phase: never touched here."""
    return type(handler).__module__.startswith("_pytest.")


@contextmanager
def isolated_logging() -> Iterator[None]:
    """Every logger's level, handlers, filters and attributes as they were before the test.

    Powertools' ``Logger`` configures the standard logger of its service name once per
    process (a handler bound to the ``sys.stdout`` of that moment, a level, and marker
    attributes such as ``init`` and ``powertools_handler``), and adds a filter to the
    root logger's handlers. A logger first configured during a test is returned to a
    fresh logger's state, so the next test's ``Logger(service=...)`` configures it anew
    on that test's output; one configured before is put back as it was.
    """
    manager = logging.Logger.manager
    root = logging.getLogger()
    before = [root, *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = {id(lg): (lg, dict(vars(lg)), list(lg.handlers), list(lg.filters)) for lg in before}
    handler_filters = {id(h): (h, list(h.filters)) for lg in before for h in lg.handlers}
    try:
        yield
    finally:
        for logger in list(manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and id(logger) not in saved:
                fresh = vars(logging.Logger(logger.name)) | {"parent": logger.parent}
                vars(logger).clear()
                vars(logger).update(fresh)
        for logger, state, handlers, filters in saved.values():
            current = logger.handlers
            vars(logger).clear()
            vars(logger).update(state)
            logger.handlers = [h for h in handlers if not _is_pytests(h)] + [
                h for h in current if _is_pytests(h)
            ]
            logger.filters = filters
        for handler, filters in handler_filters.values():
            handler.filters = filters
        manager._clear_cache()  # type: ignore[attr-defined]


@contextmanager
def isolated_powertools() -> Iterator[None]:
    """Powertools' process-wide state as it was: the metrics every ``Metrics`` instance shares
    (class attributes), the tracer's default configuration, and both cold-start flags."""
    from aws_lambda_powertools import Metrics, Tracer
    from aws_lambda_powertools.metrics.provider import cold_start as metrics_cold_start
    from aws_lambda_powertools.tracing import tracer as tracer_module

    shared = [Metrics._metrics, Metrics._dimensions, Metrics._metadata, Metrics._default_dimensions]
    shared.append(Tracer._default_config)
    saved = [dict(state) for state in shared]
    flags = (metrics_cold_start.is_cold_start, tracer_module.is_cold_start)
    try:
        yield
    finally:
        for state, before in zip(shared, saved, strict=True):
            state.clear()
            state.update(before)
        metrics_cold_start.is_cold_start, tracer_module.is_cold_start = flags


@contextmanager
def isolated_environment() -> Iterator[None]:
    """``os.environ`` as it was, whoever changed it (the test, the code under test, a library)."""
    saved = os.environ.copy()
    try:
        yield
    finally:
        if os.environ != saved:
            os.environ.clear()
            os.environ.update(saved)


@contextmanager
def isolated_aws_sessions() -> Iterator[None]:
    """boto3's default session, as it was.

    It resolves credentials, region and endpoint once and keeps them: a session made while
    one test pointed ``AWS_ENDPOINT_URL`` at its moto server would send the next test's calls
    there. (The handler's botocore session belongs to its ``AwsClients``, one per container.)
    """
    # Not imported for a test that needs no AWS: a boto3 first imported during the test started
    # without a default session, and is put back without one.
    boto3: Any = sys.modules.get("boto3")
    saved_default = None if boto3 is None else boto3.DEFAULT_SESSION
    try:
        yield
    finally:
        boto3 = sys.modules.get("boto3")
        if boto3 is not None:
            boto3.DEFAULT_SESSION = saved_default


def forget_aws_sessions() -> None:
    """The next boto3 client resolves credentials, region and endpoint anew (``isolated_aws_sessions``
    puts the session back after the test); a new container's ``AwsClients`` always does."""
    import boto3

    boto3.DEFAULT_SESSION = None


@contextmanager
def isolated_modules() -> Iterator[None]:
    """``sys.modules`` entries a test replaced or removed are put back; import-time modules forgotten."""
    saved = dict(sys.modules)
    try:
        yield
    finally:
        # A package some of whose modules were replaced (the local stack's in-process runtime
        # imports a fresh handler package) loses the modules first imported meanwhile too: they
        # are bound to the replaced ones, and would meet the restored ones (two LtiRegistration
        # classes, say) in a later test.
        replaced = {
            name.partition(".")[0] for name, module in saved.items() if sys.modules.get(name) is not module
        }
        for name in list(sys.modules):
            if name not in saved and (name in IMPORT_TIME_MODULES or name.partition(".")[0] in replaced):
                sys.modules.pop(name, None)
        for name, module in saved.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module


def fresh_import(name: str) -> ModuleType:
    """Import ``name`` anew, running its module code again (``isolated_modules`` undoes it)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)
