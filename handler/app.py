"""Lambda entry point (``handler.app.lambda_handler`` in template.yaml).

Everything expensive (configuration, the urllib3 pool, the key and secret
caches) is built here at import, during INIT, once per container, so warm
invocations reuse it. An invalid configuration fails INIT with every problem
listed by variable name.
"""

from __future__ import annotations

import os

from handler.api import LambdaHandler, build_service, create_handler, new_http_pool
from handler.config import load_config

config = load_config(os.environ)
lambda_handler: LambdaHandler = create_handler(config, build_service(config, new_http_pool()))
