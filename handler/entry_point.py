"""Lambda entry point (``handler.entry_point.lambda_handler`` in template.yaml).

Everything expensive (configuration, the urllib3 pool, the key and secret
caches) is built here at import, during INIT, once per execution environment,
so warm invocations reuse it. An invalid configuration fails INIT with every
problem listed by variable name. With SnapStart, the runtime calls the hooks
registered below around the snapshot. On an on-demand INIT, the first sign-in's
round trips (JWKS, secret, the Partner API's handshake) are made here, side by
side, before INIT ends (handler/prefetch.py says when and why).
"""

from __future__ import annotations

import functools
import os

from handler.config import load_config
from handler.container import Container, new_http_pool
from handler.secret_source import secrets_manager_client
from handler.telemetry import new_telemetry

config = load_config(os.environ)
telemetry = new_telemetry(tracing=config.runtime.tracing)
container = Container.build(config, new_http_pool(), telemetry)
prefetch = container.start_prefetch_during_init(
    os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"), tracing=config.runtime.tracing
)

# Imported once the prefetch is under way, so that its round trips overlap this import.
from handler.routes import LambdaHandler, create_handler  # noqa: E402

# LTI launches: on when LTI_STATE_TABLE_NAME is set (template.yaml's LtiLaunch=Enabled). Their
# code is imported only then: about 20 ms of cold start that a partner-only deployment never uses.
lti = None
if os.environ.get("LTI_STATE_TABLE_NAME", "").strip():
    from handler.lti.setup import lti_from_environment

    lti = lti_from_environment(
        os.environ,
        container.http,
        config.runtime,
        lambda: secrets_manager_client(telemetry),
        registry_record_text=container.registry.record_text if container.registry else None,
        dynamodb_client_factory=container.dynamodb,
        telemetry=telemetry,
    )
lambda_handler: LambdaHandler = create_handler(config, container.service, telemetry, lti=lti)

try:  # provided by Lambda's Python runtimes (3.12+); absent elsewhere
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # pragma: no cover - outside Lambda without the PyPI package
    pass
else:
    register_before_snapshot(container.before_snapshot)
    register_after_restore(functools.partial(container.after_restore, refresh=not config.runtime.tracing))
    if lti is not None:
        register_before_snapshot(lti.before_snapshot)
        register_after_restore(lti.after_restore)

prefetch.join()  # INIT ends with the prefetch done, or given up at its bound
