#!/usr/bin/env bash
# Installs what Kvasir needs on a fresh Debian machine with Node 20: pnpm, the workspace (which builds the
# native addon), and — for tests — nats-server, redis-server, etcd (etcd-server), openssl, prometheus (with promtool) and criu. Idempotent; sourced by
# test.sh and serve.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9

need_services="${KVASIR_NEED_SERVICES:-0}"
if [ "$need_services" = "1" ]; then
  missing=()
  command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl) # TLS tests make their CA and certificates with it
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus) # the planner's closed loop reads PromQL from it
  command -v criu >/dev/null 2>&1 || missing+=(criu) # the snapshot agent's real-CRIU test (it reports why CRIU cannot run)
  [ "$(id -u)" != "0" ] || command -v ip >/dev/null 2>&1 || missing+=(iproute2) # two-hosts test: netns as root
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing ${missing[*]} with apt-get" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "bootstrap: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version)" = "$PNPM_VERSION" ]; then
  PNPM=(pnpm)
elif [ "$(id -u)" = "0" ]; then
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
  PNPM=(pnpm)
else
  PNPM=(npx --yes "pnpm@$PNPM_VERSION")
fi
export PNPM_CMD="${PNPM[*]}"

if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  "${PNPM[@]}" install --frozen-lockfile --reporter=append-only
fi
