#!/usr/bin/env bash
# The GPU checks, in one run on a CUDA machine (repo root), within 10 minutes on one H200:
#   bash recipes/benchmarks/gpu_check.sh OUT_DIR [TRAINED_MODEL_DIR TRAINED_DATA_DIR]
# 1. the decoding benchmark at LLaDA-8B's shapes in bf16 (random weights: the speed of each pass,
#    not a trained model's confidence): the dynamic-cache decoders, the same decoders compiled (static
#    cache, every pass a replayed CUDA graph), the plain AR baseline and AR on transformers' static cache
#    compiled by generate; each row's ms per pass against the weight-read floor (printed),
# 2. the bf16-on-CUDA tests (tests/recipes/test_cuda_bf16.py: graphs replay the static cache's tokens
#    exactly, the static cache agrees with the dynamic one in bf16, the compiled interface answers),
# 3. one MMAU-shaped item end to end at DIFFA-2's shapes (30 s through Whisper-large-v3's encoder, the
#    adapters, LLaDA-8B; 1 and 2 passes per answer, the trained demo model's 1.38 between) at batch 1 and 8,
#    eager and compiled,
# 4. optionally a trained model folder (e.g. the demo's) decoding its held-out test on the GPU
#    under bf16 autocast, to compare with its fp32 CPU accuracy and agreement.
# Each step has its own time limit and writes under OUT_DIR (JSON lines as rows finish, so a step cut
# short keeps what it measured); a failed step does not stop the next.
# DEVICE (default cuda) and SHAPES (default LLaDA-8B's) can be changed to try the script elsewhere
# (e.g. DEVICE=cpu SHAPES="--width 64 --layers 2 --heads 4 --fit_steps 0" E2E="--tiny --dtype float32").
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR [TRAINED_MODEL_DIR TRAINED_DATA_DIR]}
trained_model=${2:-}
trained_data=${3:-}
mkdir -p "$out"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
SHAPES=${SHAPES:---dtype bfloat16 --width 4096 --layers 32 --heads 32 --fit_steps 0}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD:${PYTHONPATH:-}"
status=0

(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
 "$PY" -c "import torch, transformers, speechbrain, peft; print('torch', torch.__version__, 'transformers',
transformers.__version__, 'speechbrain', speechbrain.__version__, 'peft', peft.__version__)") 2>&1 | tee "$out/machine.txt"
"$PY" -c "import speechbrain_diffa.model" || { echo "speechbrain_diffa does not import"; exit 1; }

echo "== 1. decoding benchmark ($SHAPES) on $DEVICE"
# The single fast options without a cache cost what the reference costs on an unsure (random) model;
# they are left out here (the CPU run has them).
timeout "${BENCH_TIMEOUT:-270}" "$PY" -m speechbrain_diffa.evaluation.decoding_benchmark --device "$DEVICE" $SHAPES \
    --items "${BENCH_ITEMS:-4}" --reference_items '{"128": 1}' --skip_slow --output "$out/decoding.json" \
    --decoders "dual cache" "dual cache + eos stop (answer-cached preset)" \
    "dual cache + eos stop (answer-cached preset), compiled" \
    "eos early stop (answer preset), compiled" \
    "2 steps per block + dual cache (a sure model's pass count)" \
    "2 steps per block + dual cache (a sure model's pass count), compiled" \
    "limit: one pass per block (threshold 0, quality ignored)" 2>&1 | tee "$out/decoding.log" | tail -n 45 || status=1

echo "== 2. bf16 tests on $DEVICE"
DIFFA_BF16_TEST_DEVICE=$DEVICE timeout "${TESTS_TIMEOUT:-150}" "$PY" -m pytest -q -s -p no:cacheprovider \
    tests/recipes/test_cuda_bf16.py 2>&1 | tee "$out/bf16_tests.log" | tail -n 30 || status=1

echo "== 3. one MMAU-shaped item end to end on $DEVICE"
timeout "${E2E_TIMEOUT:-150}" "$PY" -m speechbrain_diffa.evaluation.end_to_end_benchmark --device "$DEVICE" \
    ${E2E:-} --output "$out/end_to_end.json" 2>&1 | tee "$out/end_to_end.log" | tail -n 8 || status=1

if [ -n "$trained_model" ]; then
    echo "== 4. trained model $trained_model on $DEVICE"
    timeout "${TRAINED_TIMEOUT:-60}" "$PY" -m speechbrain_diffa.evaluation.decoding_benchmark --device "$DEVICE" \
        --trained_only --trained_model "$trained_model" --trained_data "$trained_data" \
        --trained_items "${TRAINED_ITEMS:-300}" --batches 8 --output "$out/trained.json" 2>&1 | tail -n 12 || status=1
fi
exit $status
