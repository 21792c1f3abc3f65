#!/usr/bin/env bash
# The main job on the local default: a real libvirt/QEMU guest on this machine, driven by the
# `graceful-vm` CLI exactly as a CI pipeline or a maintenance window would.
#
#   npm ci && bash scripts/local-demo.sh   # as root on Debian 12, from a bare clone
#   bash scripts/local-demo.sh --stop      # also stop the private libvirtd and delete its state
#
# 1. starts the libvirt peer (test/peers/libvirt: Debian packages, a tiny guest image, a
#    private libvirtd that touches nothing of the system's libvirt);
# 2. defines the guest `graceful-vm-demo` (it runs a pre-stop hook when asked to shut down)
#    and boots it;
# 3. graceful-vm status                              -> running
#    graceful-vm off --graceful --timeout 30s        -> the guest's pre-stop hook runs, then it
#                                                       powers itself off: exit 0, method graceful
#    graceful-vm on                                  -> running again
#    printing each JSON report (stdout) and the live progress (stderr);
# 4. removes the demo domain.
set -euo pipefail
cd "$(dirname "$0")/.."
stop_peer=0
[ "${1:-}" = "--stop" ] && stop_peer=1

t0=$(date +%s%N)
# Each step with the seconds since the start, so a slow machine shows where the time goes.
say() { printf '\n\033[1m== %s\033[0m (%s s)\n' "$*" "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "local-demo: needs root on Debian 12 (it installs libvirt and QEMU from Debian's packages and runs a private libvirtd): sudo bash scripts/local-demo.sh" >&2
    exit 1
fi
[ -d node_modules ] || { echo "local-demo: run 'npm ci' first (the CLI is built from this checkout)" >&2; exit 1; }

# tsc takes 10-25 s on a busy 2-core machine: only when a source is newer than the compiled CLI.
if [ -f lib/src/cli/main.js ] && [ -z "$(find index.ts src components package.json tsconfig.json tsconfig.build.json -newer lib/src/cli/main.js -print -quit)" ]; then
    say "build: lib/ is up to date"
else
    say "build"
    npm run --silent build >&2 || { [ -f lib/src/cli/main.js ] && echo "local-demo: build reported errors; using the compiled CLI anyway" >&2; } || exit 1
fi
graceful_vm() { node lib/src/cli/main.js "$@"; }

say "libvirt peer (install, guest image, private libvirtd)"
eval "$(bash scripts/peers/libvirt.sh start)"
echo "URI: $LVPEER_URI" >&2

domain=graceful-vm-demo
virsh_() { virsh -q -c "$LVPEER_URI" "$@"; }
remove_domain() {
    virsh_ destroy --domain "$domain" >/dev/null 2>&1 || true
    virsh_ undefine --domain "$domain" >/dev/null 2>&1 || true
}
cleanup() {
    remove_domain
    if [ $stop_peer = 1 ]; then bash scripts/peers/libvirt.sh stop; fi
}
trap cleanup EXIT

say "define and boot the guest '$domain'"
remove_domain # a leftover of an interrupted run
xml=$(mktemp)
sh "$LVPEER_SCRIPTS/domain-xml.sh" "$domain" graceful "$LVPEER_GUEST_DIR" "$LVPEER_LOG_DIR" > "$xml"
virsh_ define "$xml" >&2
rm -f "$xml"
hook_log="$LVPEER_LOG_DIR/$domain.hook.log"
: > "$hook_log"
virsh_ start --domain "$domain" >&2
# A power-button press during boot is lost, as on a real machine: wait until the guest listens.
for _ in $(seq 1 300); do grep -q 'lvtest: ready' "$hook_log" 2>/dev/null && break; sleep 0.2; done
grep -q 'lvtest: ready' "$hook_log" || { echo "local-demo: the guest did not come up; see $LVPEER_LOG_DIR/$domain.console.log" >&2; exit 1; }
echo "guest is up" >&2

target=(--libvirt-uri "$LVPEER_URI" --domain "$domain")
run() {
    say "graceful-vm $*"
    set +e
    graceful_vm "$@" "${target[@]}" --json
    rc=$?
    set -e
    echo "exit code: $rc" >&2
    return $rc
}

run status
run off --graceful --timeout 30s
say "the guest's hook log (written by the guest during its shutdown)"
grep -E 'acpi: |agent: shutdown|prestop: |powering off' "$hook_log" >&2 || true
run on
run status
say "done: status -> off --graceful (exit 0) -> on"
