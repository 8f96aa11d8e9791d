"""AWS clients made with botocore itself, on one shared session.

``boto3.client(...)`` is botocore's ``Session.create_client`` on a default
session; everything else boto3 adds (resources, collections, and the S3 transfer
manager with ``s3transfer``, ``concurrent.futures`` and ``multiprocessing``) is
imported with it and never used here: about 60 modules. Measured on Python 3.13
in fresh processes, interleaved, importing and creating a Secrets Manager client
(load average about 2): 25 samples after the handler's own imports, 196 ms with
botocore against 213 ms with boto3 at the median (paired difference -26 ms);
two runs without them, -18 ms (15 samples) and -40 ms (30 samples). Same clients,
same configuration (``AWS_ENDPOINT_URL``, credentials, region, retries), the same
X-Ray patch (it patches botocore).

botocore sessions are not safe to share between threads while creating clients
(the clients themselves are), and the INIT prefetch creates them from more than
one thread: creation holds a lock.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["aws_client"]

_session: Any = None
_lock = threading.Lock()


def aws_client(service_name: str, config: Any) -> Any:
    """A botocore client for ``service_name`` with ``config`` (a ``botocore.config.Config``)."""
    # Imported here: botocore is slow to import, and only the first use needs it.
    import botocore.session

    global _session
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(service_name, config=config)
