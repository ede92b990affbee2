#!/usr/bin/env bash
# Install the pinned environment if needed, then run the main job on a tiny offline model.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/recipes/install.sh"
cd "$repo"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$PY" -m speechbrain_diffa.demo.quickstart "$@"
