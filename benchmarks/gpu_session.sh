#!/usr/bin/env bash
# One GPU session (the `device` machine, about 10 minutes): seconds per pnp.solve on the GPU,
# then both attention U-Net priors (gray and colour) trained at once on the one GPU, starting
# from the shipped weights, for the minutes left. Needs only numpy, scipy, torch, scikit-image
# and tqdm (no pyFFTW, deepinv or BM3D). Data: $PNP_DATA with train/CBSD432, train/Train400
# and the first 4 images of val/Set12 and val/CBSD68 (validation).
#
#   PNP_DATA=data_local OUT=out/gpu BUDGET_S=530 bash benchmarks/gpu_session.sh
#
# Optional: TIME_ONLY=1 (timings only), SKIP_TIMING=1 (training only), LR (default 2e-4),
# THREADS (CPU threads per training run, default 4), BATCH, PATCH, SIZES, ROT_SIZES,
# GROW="W0 W1 W2 W3" and/or GROW_BLOCKS=N (first grow the shipped networks with priors.grow, which
# keeps their outputs, and train the grown ones; the shipped gray file has widths 48 96 160 128, the
# colour file 48 112 192 128 since the fourth GPU session, and GROW applies to both, so it must not be
# narrower than either), GROWN_DIR (where the grown starting weights go, default $OUT/grown).
# The fourth GPU session trained the colour network alone, with inline commands
# (priors/weights/attention_unet.md).
#
# Writes $OUT/gpu_timing.json, $OUT/log.txt and $OUT/{gray,color}/{ckpt.pt,best.pt,log.jsonl}.
#
# The device tool carries at most 64 MiB of working tree and brings back at most 8 files of 16 MiB.
# The tracked tree is larger (checkpoints/ alone is about 280 MB): before a call, move checkpoints/ and
# the weights the run does not read out of the checkout, and move them back after it (they are all in
# git, so `git checkout -- checkpoints priors/weights` also restores them). Delete outputs the run
# does not need under $OUT (e.g. one run's optimizer-*.pt) so that the files wanted come back.
set -u
OUT=${OUT:?set OUT to the output folder}
BUDGET_S=${BUDGET_S:-530}   # seconds from start to the end of training
DEVICE=${DEVICE:-cuda}
TIME_ONLY=${TIME_ONLY:-0}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{ date -u; nvidia-smi -L 2>/dev/null; python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)"; } | tee "$OUT/log.txt"
[ "${SKIP_TIMING:-0}" = 1 ] || timeout 150 python3 benchmarks/solve_timing.py --device "$DEVICE" --sizes ${SIZES:-256 1024} --rotation-sizes ${ROT_SIZES:-256} \
    --repeats 3 --json "$OUT/gpu_timing.json" 2>&1 | tee -a "$OUT/log.txt"
[ "$TIME_ONLY" = 1 ] && exit 0
FIT=$(python3 -c "print(max(0.5, ($BUDGET_S - $SECONDS - 20) / 60))")
echo "training for $FIT minutes ($SECONDS s used)" | tee -a "$OUT/log.txt"
common=(--arch attention-unet --steps 200000 --fit-minutes "$FIT" --batch "${BATCH:-32}"
        --patch "${PATCH:-128}" --sigma-dist mixed --lr "${LR:-2e-4}" --warmup 200 --val-every 1000
        --log-every 100 --ckpt-minutes 2 --threads "${THREADS:-4}" --no-progress --device "$DEVICE")
pids=()
for c in 1 3; do
    name=$([ $c = 1 ] && echo gray || echo color)
    init="priors/weights/attention_unet_${name}.pt"
    if [ -n "${GROW:-}${GROW_BLOCKS:-}" ]; then
        grown="${GROWN_DIR:-$OUT/grown}/$name.pt"
        python3 -m priors.grow "$init" ${GROW:+--widths $GROW} ${GROW_BLOCKS:+--blocks $GROW_BLOCKS} \
            --out "$grown" --overwrite >> "$OUT/log.txt" 2>&1 || { tail -3 "$OUT/log.txt"; exit 1; }
        init=$grown
    fi
    timeout -s TERM $((BUDGET_S - SECONDS + 15)) python3 -m priors.train "${common[@]}" --channels $c \
        --init-weights "$init" --out "$OUT/$name" 2>&1 | sed "s/^/[$name] /" &
    pids+=($!)
done
wait "${pids[@]}"
echo "done at $SECONDS s" | tee -a "$OUT/log.txt"
