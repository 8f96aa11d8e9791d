"""Lambda entry point (``handler.entry_point.lambda_handler`` in template.yaml).

Everything is built at import, during INIT, once per execution environment: an invalid
configuration fails INIT with every problem listed by variable name. The INIT prefetch
starts before the routes are imported, so that import overlaps its round trips; INIT ends
with it joined. With SnapStart, the runtime calls the container's hooks around the snapshot.
"""

from __future__ import annotations

import functools
import os

from handler.config import load_config
from handler.container import Container

container = Container.build(load_config(os.environ))
prefetch = container.prefetch(os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"))
lambda_handler = container.handler()

try:  # provided by Lambda's Python runtimes (3.12+); absent elsewhere
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # pragma: no cover - outside Lambda without the PyPI package
    pass
else:
    register_before_snapshot(container.before_snapshot)
    register_after_restore(
        functools.partial(container.after_restore, refresh=not container.config.runtime.tracing)
    )

prefetch.join()  # INIT ends with the prefetch done, or given up at its bound
