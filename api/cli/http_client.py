"""A small HTTP client of the mmsearch API (what the CLI's client commands use)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(Exception):
    """An error answer of the API, with its stable code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class UsageError(Exception):
    """A command line the command cannot run (exit 2 with a usage message, as argparse does)."""


class CommandError(Exception):
    """A command that cannot go on, said in one line (exit 2)."""


def print_json(value: Any) -> None:
    """Print an API answer as indented JSON."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def client_for(args: argparse.Namespace) -> ApiClient:
    """The client of the API a command names (`--api-url`, else MMSEARCH_API_URL)."""
    return ApiClient(args.api_url)


def api_url(url: str) -> str:
    """The API's base URL; `host:port`, as curl takes it, means http://host:port."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


class ApiClient:
    """Calls the API at `url` (MMSEARCH_API_URL) with `key` (MMSEARCH_API_KEY) when given."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout_s: float = 120):
        self.url = api_url(url or os.environ.get("MMSEARCH_API_URL") or DEFAULT_URL)
        key = key if key is not None else os.environ.get("MMSEARCH_API_KEY")
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer; ApiError for an error answer, ConnectionError when unreachable."""
        try:
            response = self.session.request(
                method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs
            )
        except requests.ConnectionError as exc:
            raise ConnectionError(f"cannot reach the mmsearch API at {self.url}") from exc
        except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL) as exc:
            raise UsageError(f"--api-url {self.url}: not an http:// or https:// URL") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = (body or {}).get("error") if isinstance(body, dict) else None
            if error:
                raise ApiError(
                    response.status_code, error["code"], error["message"], error["details"]
                )
            raise ApiError(response.status_code, "http_error", response.text[:200])
        return body

    def job(self, job_id: str, errors_limit: int = 100) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/jobs/{job_id}", params={"errors_limit": errors_limit}))

    def jobs(self, limit: int) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/jobs", params={"limit": limit})["data"])

    def ingest(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", f"/v1/collections/{collection}/ingest", json=body))

    def search(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", f"/v1/collections/{collection}/search", json=body))
