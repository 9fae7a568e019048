"""A local S3 server (moto's, spoken to over HTTP) and clients signed with its credentials."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import boto3

from mmsearch.infra.local_redis import free_port
from mmsearch.infra.testing.photos import Photo

# The local server accepts any credentials; fixed ones let tests check that none leaks.
ACCESS_KEY, SECRET_KEY = "testing-access-key", "testing-secret-key"


class LocalS3:
    """moto's S3 server on a free loopback port (needs the dev extra)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()


def aws_client(endpoint: str, service: str = "s3") -> Any:
    """A boto3 client for `service` on the local server, signed with the test credentials."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def s3_settings_env(endpoint: str) -> dict[str, str]:
    """The MMSEARCH_S3_* variables that point the platform at the local server."""
    return {
        "MMSEARCH_S3_ENDPOINT_URL": endpoint,
        "MMSEARCH_S3_ACCESS_KEY": ACCESS_KEY,
        "MMSEARCH_S3_SECRET_KEY": SECRET_KEY,
    }


def upload_photos(client: Any, bucket: str, photos: Iterable[Photo], prefix: str = "") -> None:
    """Create `bucket` and put each photo in it under `prefix` + its name."""
    client.create_bucket(Bucket=bucket)
    for photo in photos:
        client.put_object(Bucket=bucket, Key=f"{prefix}{photo.name}", Body=photo.data)
