#!/usr/bin/env bash
# Run uv however ensure-deps.sh installed it: on PATH, in ~/.local/bin, or as a Python module.
if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
if [ -x "$HOME/.local/bin/uv" ]; then exec "$HOME/.local/bin/uv" "$@"; fi
exec python3 -m uv "$@"
