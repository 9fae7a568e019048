#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine: redis-server, a venv in .venv, torch, mmsearch.
#   infra/setup.sh          # to run the platform
#   infra/setup.sh --dev    # plus test and lint tools, docker-compose to validate compose, and
#                           # chromium + chromium-driver for the browser test of the web page
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
if [ "$dev" = 1 ] && ! command -v docker-compose >/dev/null; then packages+=(docker-compose); fi
if [ "$dev" = 1 ] && ! command -v chromedriver >/dev/null; then packages+=(chromium chromium-driver); fi
if [ "${#packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" != 0 ] && sudo="sudo"
  echo "setup: installing ${packages[*]} with apt" >&2
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  echo "setup: installing torch and torchvision (large download)" >&2
  .venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1
fi
if [ "$dev" = 1 ]; then
  .venv/bin/pip install -q -e ".[dev]"
  mkdir -p .typecheck/mmsearch  # mypy checks the package through links named as it installs
  for folder in api workers encoders infra; do ln -sfn "../../$folder" ".typecheck/mmsearch/$folder"; done
else
  .venv/bin/pip install -q -e .
fi
echo "setup: ready (.venv/bin/mmsearch)" >&2
