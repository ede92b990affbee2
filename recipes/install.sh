#!/usr/bin/env bash
# Create (or reuse) the Python environment for speechbrain_diffa: the tested, pinned stack.
# Usage: source recipes/install.sh   (sets $PY to the environment's python)
# DIFFA_VENV picks the environment folder (default: .venv in the repository).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DIFFA_VENV:-$repo/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "[install] creating $venv"
    python3 -m venv "$venv"
fi
PY="$venv/bin/python"
if ! "$PY" -c "import speechbrain, transformers, peft, matplotlib, pyarrow, fastapi, uvicorn, prometheus_client, openai, speechbrain_diffa, pytest" 2>/dev/null; then
    echo "[install] installing the pinned stack into $venv (about 2 minutes on a new machine)"
    # torch is pinned: an unpinned torch pulls a multi-GB build; 2.13 + torchaudio 2.11 fails to import.
    "$PY" -m pip install -q --disable-pip-version-check \
        torch==2.14.1 torchaudio==2.11.0 speechbrain==1.1.2 transformers==5.24.0 peft==0.21.2 \
        hyperpyyaml==1.2.3 sentencepiece==0.2.3 tensorboard==2.21.0 soundfile==0.14.0 safetensors \
        matplotlib==3.11.2 fastapi==0.165.0 uvicorn==0.54.0 prometheus_client==0.26.0 openai==3.57.0 \
        pyarrow==26.0.1 pytest
    "$PY" -m pip install -q --disable-pip-version-check --no-deps -e "$repo"
fi
export PY
