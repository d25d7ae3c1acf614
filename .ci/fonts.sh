#!/usr/bin/env bash
# CI: install Debian's Noto CJK fonts so PNG plots with Chinese labels render real glyphs
# (tunelab/evaluation/plots.py picks "Noto Sans CJK SC" through matplotlib's font manager when present).
# Idempotent: does nothing when the font is already installed.
set -euo pipefail

die() { echo "fonts.sh: error: $*" >&2; exit 1; }
log() { echo "fonts.sh: $*"; }

if fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then
    log "present: Noto Sans CJK"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -- bash "${BASH_SOURCE[0]}" "$@"
    fi
    die "fonts-noto-cjk is missing and installing it needs root (apt-get install -y fonts-noto-cjk)"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends fonts-noto-cjk >/dev/null 2>&1 || {
    log "apt-get install failed; refreshing the package lists and trying again"
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends fonts-noto-cjk >/dev/null
}
log "installed: fonts-noto-cjk"
