#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine: redis-server, a venv in .venv, torch, mmsearch.
#   infra/setup.sh          # to run the platform: torch, ONNX Runtime and OpenVINO
#   infra/setup.sh --lean   # without torch: runs exported models (MMSEARCH_RUNTIME=onnx|openvino)
#   infra/setup.sh --dev    # plus test and lint tools, docker-compose to validate compose, and
#                           # chromium + chromium-driver for the browser test of the web page
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0 lean=0
[ "${1:-}" = "--dev" ] && dev=1
[ "${1:-}" = "--lean" ] && lean=1

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

# torch: CPU-only wheels where there is no NVIDIA GPU (about 1 GB installed instead of 5.8 GB).
#   MMSEARCH_TORCH=auto|cpu|cuda     auto (default): cpu unless `nvidia-smi -L` lists a GPU
#   MMSEARCH_TORCH_INDEX=URL         the CPU wheel index (default PyTorch's); a mirror of it works
torch_pins=(torch==2.14.1 torchvision==0.29.1)
index_reachable() {  # fails fast on a machine that cannot reach the index (pip retries for minutes)
  case "$1" in http://* | https://*) ;; *) return 0 ;; esac
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)' \
    "${1%/}/torch/" 2>/dev/null
}
install_torch() {
  local flavour="${MMSEARCH_TORCH:-auto}"
  if [ "$flavour" = auto ]; then
    flavour=cpu
    if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then flavour=cuda; fi
  fi
  case "$flavour" in
    cpu)
      local index="${MMSEARCH_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
      echo "setup: no NVIDIA GPU: installing CPU-only torch from $index (MMSEARCH_TORCH=cuda for CUDA)" >&2
      if ! index_reachable "$index" ||
        ! .venv/bin/pip install -q --retries 1 --index-url "$index" "${torch_pins[@]}"; then
        echo "setup: $index could not be used; installing torch from the default index (with CUDA: about 5.8 GB)" >&2
        .venv/bin/pip install -q "${torch_pins[@]}"
        return
      fi ;;
    cuda)
      echo "setup: installing torch with CUDA (large download, about 5.8 GB installed)" >&2
      .venv/bin/pip install -q "${torch_pins[@]}" ;;
    *) echo "setup: MMSEARCH_TORCH must be auto, cpu or cuda (got $flavour)" >&2; exit 2 ;;
  esac
  if [ "$flavour" = cpu ] && .venv/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
    echo "setup: $index offered no CPU-only build of ${torch_pins[0]}; torch came with CUDA" >&2
  fi
}

[ -x .venv/bin/python ] || python3 -m venv .venv
if [ "$lean" = 0 ] && ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  install_torch
fi
if [ "$lean" = 1 ]; then
  .venv/bin/pip install -q -e ".[onnx,openvino]"
elif [ "$dev" = 1 ]; then
  .venv/bin/pip install -q -e ".[dev]"
  mkdir -p .typecheck/mmsearch  # mypy checks the package through links named as it installs
  for folder in api workers encoders infra; do ln -sfn "../../$folder" ".typecheck/mmsearch/$folder"; done
else
  .venv/bin/pip install -q -e ".[torch,onnx,openvino]"
fi
echo "setup: ready (.venv/bin/mmsearch)" >&2
