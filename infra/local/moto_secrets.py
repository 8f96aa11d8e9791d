"""AWS for local use: moto in server mode, the sandbox API key secret and the replay table.

The handler reaches it through the standard ``AWS_ENDPOINT_URL`` variable, so
the same code path talks to moto here and to real Secrets Manager and DynamoDB in AWS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

from handler.secret_source import parse_secret_value
from infra.local.http_server import LOOPBACK, Service

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts any credentials


def new_api_key() -> str:
    """A key in Big Interview's documented format: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def api_key_secret_value(api_key: str) -> str:
    """The secret's JSON form, ``{"api_key": "..."}`` (the handler also accepts a bare key)."""
    return json.dumps({"api_key": api_key})


def parse_api_key(secret_value: str) -> str:
    """The key inside a secret value, read exactly as the handler reads it."""
    return parse_secret_value(secret_value)


def create_replay_table(region: str, endpoint_url: str, name: str) -> None:
    """The one-time-link table, shaped as template.yaml's ``ReplayTable``.

    moto keeps its state per process, not per server: a second stack in the same
    process (several test modules) finds the table already there, and reuses it.
    """
    client = boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )
    try:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def create_registry_table(region: str, endpoint_url: str, name: str) -> Any:
    """The partner registry, shaped as template.yaml's ``PartnerRegistryTable``; its client."""
    client = boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )
    # moto's state is per process: a second stack finds the table there.
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "issuer", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "issuer", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return client


def secrets_client(region: str, endpoint_url: str | None, fake_credentials: bool) -> SecretsManagerClient:
    """A Secrets Manager client; ``fake_credentials`` for moto, else the usual AWS credential chain."""
    if fake_credentials:
        return boto3.client(
            "secretsmanager",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        )
    return boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)


def put_secret(client: SecretsManagerClient, name: str, value: str) -> None:
    """Create the secret, or add ``value`` as its new current version if it exists."""
    try:
        client.create_secret(Name=name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=value)


def read_secret(client: SecretsManagerClient, secret_id: str) -> str:
    """The current string value of a secret."""
    return client.get_secret_value(SecretId=secret_id)["SecretString"]


class MotoSecretsManager(Service):
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 (it serves every AWS service; we use Secrets Manager)."""

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        self.region = region
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        """Start moto; raises ``OSError`` if the port is taken."""
        if self._server is not None:
            return
        # ThreadedMotoServer binds inside its thread and would wait forever if the
        # bind failed, so find out first, here, with a clear error.
        if self._requested_port:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((LOOPBACK, self._requested_port))
        # moto's werkzeug server logs every request; the stack prints its own summary.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self._requested_port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        """Stop moto; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def url(self) -> str:
        """The endpoint URL (what ``AWS_ENDPOINT_URL`` should be)."""
        if self._server is None:
            raise RuntimeError("moto not started")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self) -> SecretsManagerClient:
        """A client for this server, with moto's fake credentials."""
        return secrets_client(self.region, self.url, fake_credentials=True)


def create_tool_key(region: str, endpoint_url: str) -> str:
    """The LTI tool's key, shaped as template.yaml's ``LtiToolKey`` (RSA 2048, sign/verify); its id."""
    client = boto3.client(
        "kms",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
    )
    key_id: str = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    return key_id
