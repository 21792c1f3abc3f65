#!/usr/bin/env bash
# The test command (`npm test`): build, start the real peers this machine can run, run jest,
# and print one closing line `N passed, N failed` that CI reads.
#   npm test                      everything
#   npm test -- test/power        only some files (jest arguments)
#   GRACEFUL_VM_PEERS=none npm test       no peers (peer tests skip, or fail when CI=true)
#   GRACEFUL_VM_PEERS="libvirt vsphere"   only these peers
#   GRACEFUL_VM_PEERS_ELSEWHERE="libvirt"  not these: another lane runs their tests (.ci/run)
#   GRACEFUL_VM_KEEP_PEERS=1              leave the peers running even with CI=true
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
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
# Why each peer that is not running was not started: the jest reporter (scripts/jest-peer-skips.js)
# prints it once beside the skipped count, and on CI the failing peer test quotes it.
reasons="$results/peer-reasons.tsv"
: > "$reasons"
export GRACEFUL_VM_PEER_REASONS="$reasons"
wanted=${GRACEFUL_VM_PEERS:-all}
# Peers whose tests another lane of .ci/run covers: not started here, their tests skip even on CI.
elsewhere=${GRACEFUL_VM_PEERS_ELSEWHERE:-}
started=()
for script in scripts/peers/*.sh; do
  [ -e "$script" ] || continue
  name=$(basename "$script" .sh)
  if [ "$wanted" = "none" ]; then
    printf '%s\t%s\n' "$name" "GRACEFUL_VM_PEERS=none" >> "$reasons"
    continue
  fi
  if [ "$wanted" != "all" ] && [[ " $wanted " != *" $name "* ]]; then
    printf '%s\t%s\n' "$name" "not in GRACEFUL_VM_PEERS=\"$wanted\"" >> "$reasons"
    continue
  fi
  if [[ " $elsewhere " == *" $name "* ]]; then
    printf '%s\t%s\n' "$name" "its tests run in another lane (GRACEFUL_VM_PEERS_ELSEWHERE)" >> "$reasons"
    continue
  fi
  echo "peer $name: starting" >&2
  t0=$(date +%s)
  log="$results/peer-$name.log"
  if out=$(bash "$script" start 2>"$log"); then
    printf '%s\n' "$out" >> "$peers_env"
    started+=("$name")
    echo "peer $name: up in $(( $(date +%s) - t0 ))s" >&2
  else
    # The script's last line says why (not root, a package missing, ...).
    why=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
    printf '%s\t%s\n' "$name" "${why:-start failed} (log: ${log#"$root"/})" >> "$reasons"
    echo "peer $name: unavailable (why: at the end; log: ${log#"$root"/})" >&2
    # On CI the tail of the log is the diagnosis; elsewhere the one line at the end is enough.
    if [ "${CI:-}" = "true" ]; then tail -5 "$log" >&2; fi
  fi
done
# .ci/run stops these at its end when the lanes kept them up for each other.
printf '%s\n' "${started[@]}" > "$results/peers-started"
# shellcheck disable=SC2317 # called by the EXIT trap
stop_peers() {
  # .ci/run keeps them up across its lanes and stops them itself.
  if [ "${GRACEFUL_VM_KEEP_PEERS:-}" = "1" ]; then return; fi
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
