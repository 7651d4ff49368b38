#!/usr/bin/env bash
# Install what the project needs on a fresh machine: uv, then the locked Python environment.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "credreg needs Python 3.11 or newer as python3" >&2; exit 2; }
if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ] \
  && ! python3 -m uv --version >/dev/null 2>&1; then
  echo "[deps] installing uv from PyPI"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
fi
UV="scripts/uv.sh"
"$UV" sync --frozen --all-packages --quiet
