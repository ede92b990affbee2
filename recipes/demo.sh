#!/usr/bin/env bash
# Install the pinned environment if needed, then run the whole curriculum on a generated corpus:
# corpus -> stand-in Whisper and LLaDA -> stages 1-4 (train.py) -> held-out scores -> table.
# Usage: bash recipes/demo.sh [--output results/demo] [--seed 0] [--quick]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/recipes/install.sh"
cd "$repo"
if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "[demo] espeak-ng not found: speech clips use the labelled formant fallback" \
         "(apt-get install -y espeak-ng for real voices)"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PY" -m speechbrain_diffa.demo "$@"
