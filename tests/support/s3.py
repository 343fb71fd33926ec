"""An S3-protocol server in this process for the tests: moto's ``ThreadedMotoServer``.

``moto_s3()`` starts one on a random local port (once per test session, through the
``s3_server`` fixture); ``new_bucket(server)`` makes a fresh bucket so tests never share one.
moto keeps everything in memory and forgets it when the session ends.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

ACCESS_KEY = "avtomat-test"
SECRET_KEY = "avtomat-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint: str

    def env(self, bucket: str) -> dict[str, str]:
        """The variables that point avtomat (and the worker SDK) at ``bucket`` on this server."""
        return {
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            "S3_DEFAULT_BUCKET": bucket,
            "S3_REGION": REGION,
        }


@contextlib.contextmanager
def moto_s3() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer  # heavy: imported only by tests that need S3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


def new_bucket(server: S3Server) -> str:
    """Create an empty bucket with a unique name on ``server``."""
    import boto3

    name = f"avtomat-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name=REGION,
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    client.close()
    return name
