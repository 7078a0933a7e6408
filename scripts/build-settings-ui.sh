#!/usr/bin/env bash
# Builds the settings window's frontend (crates/ezflow-settings/frontend)
# into its dist/, which `cargo build -p ezflow-settings` embeds. Installs the
# locked npm packages first when node_modules is missing or older than the
# lockfile. `npm run build` type-checks (tsc), bundles (vite) and checks the
# first page's size budget. Pass --test to also run the unit tests (vitest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
frontend="$root/crates/ezflow-settings/frontend"
cd "$frontend"
stamp="node_modules/.package-lock.json"
if [[ ! -d node_modules || ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  echo "build-settings-ui: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
if [[ "${1:-}" == "--test" ]]; then
  npm run --silent test
fi
