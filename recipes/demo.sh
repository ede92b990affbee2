#!/usr/bin/env bash
# Install the pinned environment if needed, then run the whole curriculum on a generated corpus:
# corpus -> stand-in Whisper and LLaDA -> stages 1-4 (train.py) -> held-out scores -> table.
# Usage: bash recipes/demo.sh [--output results/demo] [--seed 0] [--quick]
# Run it from any folder; --output is relative to where you run it.
# On Debian/Ubuntu it installs espeak-ng (the speech synthesiser of the corpus's spoken clips) with
# apt-get when it is missing and this user may install packages; DIFFA_NO_APT=1 skips that.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/recipes/install.sh"
if ! command -v espeak-ng >/dev/null 2>&1 && [ -z "${DIFFA_NO_APT:-}" ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
    if [ "$sudo" != none ]; then
        echo "[demo] installing espeak-ng, the speech synthesiser for the corpus's spoken clips (apt-get install -y espeak-ng)"
        $sudo apt-get install -y -q espeak-ng >/dev/null 2>&1 \
            || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q espeak-ng >/dev/null 2>&1; } \
            || echo "[demo] apt-get could not install espeak-ng"
    fi
fi
if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "[demo] espeak-ng is not installed: speech clips use the labelled formant fallback instead of voices" \
         "(install it with: apt-get install -y espeak-ng)"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PY" -m speechbrain_diffa.demo "$@"
