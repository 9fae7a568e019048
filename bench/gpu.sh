#!/usr/bin/env bash
# The GPU figures in one run, on a machine with an NVIDIA GPU (about 10 minutes with the setup):
# installs CUDA torch and onnxruntime-gpu, then for ViT-B-32 and ViT-L-14 (random weights: the
# speed is the architecture's) measures the ingest pipeline against the bare forward
# (bench/ingest.py) and the runtimes side by side (bench/runtimes.py: torch fp16 against ONNX
# Runtime fp16 on CUDA), and what re-ranking with BLIP base adds (bench/rerank.py). Figures
# go to stdout and to $OUT (default /tmp/mmsearch-gpu).
#   bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/mmsearch-gpu}"
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"
# A venv that already has CUDA torch is used as it is (a machine without internet needs one).
if ! .venv/bin/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  MMSEARCH_TORCH=cuda bash infra/setup.sh --dev >"$out/setup.log" 2>&1
fi
.venv/bin/python -c "import onnxruntime as o; assert 'CUDAExecutionProvider' in o.get_available_providers()" 2>/dev/null ||
  .venv/bin/pip install -q onnxruntime-gpu >>"$out/setup.log" 2>&1 || echo "no onnxruntime-gpu: the onnx rows will fail" >&2
export HF_HUB_OFFLINE=1
# The feeder alone (null model): how far decoding scales with this host's cores.
.venv/bin/python bench/feeder.py --n 2048 --side 1600 --processes "1,4,$(nproc)" | tee "$out/feeder.txt"
for model in ViT-B-32 ViT-L-14; do
  .venv/bin/python bench/ingest.py --model "$model/random" --n 4096 --batch 256 | tee "$out/ingest-$model.txt"
  .venv/bin/python bench/runtimes.py --model "$model/random" --device cuda --n 2048 --batch 256 \
    --only torch/auto,onnx/fp16,onnx/fp32 | tee "$out/runtimes-$model.txt"
done
# Re-ranking: BLIP base's matching head (random weights) over top_k 20 / 50 / 100 candidates.
.venv/bin/python bench/rerank.py --queries 3 | tee "$out/rerank.txt"
