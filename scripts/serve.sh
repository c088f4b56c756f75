#!/usr/bin/env bash
# Installs the workspace if needed, then runs `kvasir serve` (embedded frontend + router + two mocker workers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec node --import tsx apps/cli/src/main.ts serve "$@"
