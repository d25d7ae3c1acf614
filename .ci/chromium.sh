#!/usr/bin/env bash
# CI: install Debian's chromium for the dashboard's browser test (tests/dashboard/test_browser.py).
# Idempotent: does nothing when chromium already runs. Playwright's own browser download does not work
# here; the test launches this binary through `executable_path` (TUNELAB_CHROMIUM overrides the path).
set -euo pipefail

die() { echo "chromium.sh: error: $*" >&2; exit 1; }
log() { echo "chromium.sh: $*"; }

if command -v chromium >/dev/null 2>&1 && chromium --version >/dev/null 2>&1; then
    log "present: $(chromium --version 2>/dev/null | head -1)"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -- bash "${BASH_SOURCE[0]}" "$@"
    fi
    die "chromium is missing and installing it needs root (apt-get install -y chromium)"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || {
    log "apt-get install failed; refreshing the package lists and trying again"
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends chromium >/dev/null
}
chromium --version >/dev/null 2>&1 || die "chromium installed but does not start"
log "installed: $(chromium --version 2>/dev/null | head -1)"
