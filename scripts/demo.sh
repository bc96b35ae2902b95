#!/usr/bin/env bash
# Installs dependencies, builds, and runs the local demo (headless by default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
exec build/release/apps/meshcast demo "$@"
