#!/usr/bin/env bash
# The whole set-up and run of every test: installs what is missing, typechecks, lints (biome, dependency
# direction, buf), then runs the unit and integration projects (integration tests start real nats-server and
# redis-server on free loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
KVASIR_NEED_SERVICES=1 source scripts/bootstrap.sh
$PNPM_CMD exec turbo run build --output-logs=errors-only
$PNPM_CMD exec biome check .
$PNPM_CMD run --silent lint:deps
$PNPM_CMD run --silent docs:flags --check
$PNPM_CMD exec buf lint
$PNPM_CMD exec vitest run --project unit "$@"
$PNPM_CMD exec vitest run --project integration "$@"
