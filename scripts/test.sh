#!/usr/bin/env bash
# The test command (`npm test`): build, start the real peers this machine can run, run jest,
# and print one closing line `N passed, N failed` that CI reads.
#   npm test                      everything
#   npm test -- test/power        only some files (jest arguments)
#   GRACEFUL_VM_PEERS=none npm test       no peers (peer tests skip, or fail when CI=true)
#   GRACEFUL_VM_PEERS="libvirt vsphere"   only these peers
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
results="$root/.test-results"
mkdir -p "$results"

fail_early() { echo "$1" >&2; echo "0 passed, 1 failed"; exit 1; }

npm run --silent build || fail_early "build failed"
# The dynamic-provider host resolves `pulumi-graceful-vm/...` from its cwd, as it would from a
# user's program; point the package's own name at this checkout.
mkdir -p node_modules
ln -sfn .. node_modules/pulumi-graceful-vm

peers_env="$results/peers.env"
: > "$peers_env"
wanted=${GRACEFUL_VM_PEERS:-all}
started=()
if [ "$wanted" != "none" ]; then
  for script in scripts/peers/*.sh; do
    [ -e "$script" ] || continue
    name=$(basename "$script" .sh)
    if [ "$wanted" != "all" ] && [[ " $wanted " != *" $name "* ]]; then continue; fi
    echo "peer $name: starting" >&2
    t0=$(date +%s)
    if out=$(bash "$script" start 2>"$results/peer-$name.log"); then
      printf '%s\n' "$out" >> "$peers_env"
      started+=("$name")
      echo "peer $name: up in $(( $(date +%s) - t0 ))s" >&2
    else
      echo "peer $name: unavailable (see $results/peer-$name.log)" >&2
      tail -5 "$results/peer-$name.log" >&2
    fi
  done
fi
stop_peers() {
  if [ "${CI:-}" = "true" ] || [ "${GRACEFUL_VM_STOP_PEERS:-}" = "1" ]; then
    for name in "${started[@]}"; do bash "scripts/peers/$name.sh" stop >/dev/null 2>&1 || true; done
  fi
}
trap stop_peers EXIT

set -a
# shellcheck disable=SC1090
. "$peers_env"
set +a

npx jest --json --outputFile="$results/jest.json" "$@"
rc=$?
node scripts/summarize-jest.js "$results/jest.json" || echo "0 passed, 1 failed"
exit $rc
