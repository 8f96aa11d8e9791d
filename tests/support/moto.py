"""moto, the AWS stand-in, three ways: in the test's process (``mock_aws``, the ``aws``
fixture in tests/conftest.py), as a threaded server in the test's process (botocore over
real HTTP), and as a server process of its own (its IAM enforcement switch is process-wide).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import boto3
import urllib3
from moto.server import ThreadedMotoServer

from tests.conftest import SECRET_ID
from tests.support import API_KEY
from tests.support.ports import LOOPBACK, free_port

__all__ = ["ACCOUNT", "REGION", "MotoProcess", "moto_process", "start_moto", "stop_moto"]

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def _wait_until_serving(endpoint: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib3.request("GET", f"{endpoint}/moto-api/data.json", timeout=1.0)
            return
        except urllib3.exceptions.HTTPError:
            if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                raise
            time.sleep(0.1)


# ---- a server in the test's process ----------------------------------------------------------------
def start_moto() -> tuple[ThreadedMotoServer, str]:
    """moto in server mode on 127.0.0.1, from a clean state, holding the API key; and its endpoint."""
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state is process-wide and outlives a stopped server: start from a clean one.
    urllib3.request("POST", f"{endpoint}/moto-api/reset", timeout=5.0)
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
    client.create_secret(Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY}))
    return server, endpoint


def stop_moto(server: ThreadedMotoServer) -> None:
    """Stop serving and close the listening socket (``stop()`` alone leaves it accepting)."""
    if server._server is not None:  # moto keeps its WSGI server private
        server.stop()
        server._server.server_close()
        server._server = None


# ---- a server process of its own -------------------------------------------------------------------
@dataclass
class MotoProcess:
    """moto as a server process; clients made here talk to it with the credentials given."""

    endpoint: str

    def client(
        self, service: Literal["iam", "sts", "secretsmanager", "dynamodb", "kms"], **credentials: str
    ) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials.get("AccessKeyId", "setup"),
            aws_secret_access_key=credentials.get("SecretAccessKey", "setup"),
            aws_session_token=credentials.get("SessionToken"),
        )

    def enforce_iam(self, enforce: bool) -> None:
        """From the next request on, every call is authenticated and authorized (or not)."""
        count = "0" if enforce else "inf"
        urllib3.request("POST", f"{self.endpoint}/moto-api/reset-auth", body=count.encode(), timeout=5.0)


@contextmanager
def moto_process() -> Iterator[MotoProcess]:
    """moto as a server process on a free loopback port, stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        _wait_until_serving(endpoint, process)
        yield MotoProcess(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)
