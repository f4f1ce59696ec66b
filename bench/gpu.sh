#!/usr/bin/env bash
# Every GPU check of the performance issue in one command, for a session that has a CUDA machine:
#   the machine and any model weight files already on it, the CUDA tests (tests/test_cuda.py), bench/step.py at
#   batch 256 (bf16 autocast, FLOPs and MFU), bench/prompter.py at batch 256, and, where the CIFAR-10 archive is
#   there, bench/epoch.py.
# Output: one log per part in $OUT (the device tool's folder) or else bench/results/gpu/.
# Run from the repo root:  bash bench/gpu.sh [part ...]     parts: info tests step prompter epoch (default: all)
# Offline GPU machines without open_clip: carry wheels in .whl/ (bench/README.md, "On a GPU"); they are installed
# into /tmp/site first when .whl/ exists.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/gpu}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(info tests step prompter epoch)
for part in "${parts[@]}"; do
  case $part in info|tests|step|prompter|epoch) ;;
    *) echo "gpu.sh: unknown part '$part': use info, tests, step, prompter or epoch"; exit 2 ;; esac
done
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site" || { echo "gpu.sh: installing .whl/*.whl failed"; exit 1; }
fi
mkdir -p "$out"
rc=0
run() {  # run NAME TIMEOUT_S COMMAND...: the command's output to the screen and to $out/NAME.txt
  local name=$1 limit=$2; shift 2
  echo "=== $name: $* (limit ${limit} s)"
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"; local r=${PIPESTATUS[0]}
  [ "$r" -ne 0 ] && { echo "=== $name: exit $r"; rc=1; }
  return 0
}
for part in "${parts[@]}"; do
  case $part in
    info) run info 120 bash -c 'nvidia-smi; python3 -c "import torch, timm, open_clip; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(), timm.__version__, open_clip.__version__)";
          echo "--- model weight files over 10 MB on this machine (find / -xdev -size +10M, *.pt *.pth *.safetensors *.bin):";
          find / -xdev -size +10M \( -name "*.pt" -o -name "*.pth" -o -name "*.safetensors" -o -name "*.bin" \) -printf "%s\t%p\n" 2>/dev/null | sort -k2 | awk -F"\t" "{printf \"%9.1f MB  %s\n\", \$1/1e6, \$2}"' ;;
    tests) run tests 600 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py ;;
    step) run step 600 python3 bench/step.py --device cuda ;;
    prompter) run prompter 300 python3 bench/prompter.py --device cuda --batch-size 256 --bf16 ;;
    epoch) if [ -e .data/cifar10-jpeg.tar.gz ]; then   # a copy carried to a machine without ../shared
             run epoch 600 python3 bench/epoch.py --device cuda --archive .data/cifar10-jpeg.tar.gz
           elif [ -e data/cifar10-jpeg ] || [ -e ../shared/data/cifar10/cifar10-jpeg.tar.gz ]; then
             run epoch 600 python3 bench/epoch.py --device cuda
           else echo "=== epoch: skipped, no CIFAR-10 here (.data/, data/cifar10-jpeg or ../shared/data/cifar10)"; fi ;;
  esac
done
exit $rc
