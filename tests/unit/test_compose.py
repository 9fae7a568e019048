"""docker-compose.yml is valid with and without its cluster profile, and the cluster profile
starts three Qdrant nodes in distributed mode that join the first one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SECRETS = {"MINIO_ROOT_PASSWORD": "minio-secret", "MMSEARCH_API_KEYS": "key-entry"}


@pytest.mark.parametrize("profile", [[], ["--profile", "cluster"]], ids=["default", "cluster"])
def test_compose_validates(profile: list[str]) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed")
    command = [tool, "-f", str(COMPOSE), *profile, "config", "-q"]
    done = subprocess.run(
        command, env={**os.environ, **SECRETS}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_the_cluster_profile_is_three_peers_of_one_cluster() -> None:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    nodes = {name: s for name, s in services.items() if "cluster" in s.get("profiles", [])}
    assert sorted(nodes) == ["qdrant-node1", "qdrant-node2", "qdrant-node3"]
    for name, node in nodes.items():
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["command"][-2:] == ["--uri", f"http://{name}:6335"]
        assert "ports" not in node  # the peers' port stays inside the compose network
        if name != "qdrant-node1":
            assert node["command"][1:3] == ["--bootstrap", "http://qdrant-node1:6335"]
    assert "--bootstrap" not in nodes["qdrant-node1"]["command"]
