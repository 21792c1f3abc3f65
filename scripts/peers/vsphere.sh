#!/usr/bin/env bash
# The vSphere test peer (govmomi vcsim with a guest layer) for scripts/test.sh and CI.
#   vsphere.sh start   install if needed, start on $VSPHERE_TEST_PORT (default 18988), print
#                      `export VCSIM_*=...` lines on stdout; everything else goes to stderr
#   vsphere.sh stop    stop it (idempotent)
# The port differs from smoke.sh's 18989 so running the peer's self-test does not stop ours.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer="$here/../../../shared/peers/vsphere"
port="${VSPHERE_TEST_PORT:-18988}"

[[ -d $peer ]] || { echo "vsphere peer not found at $peer (shared/ must sit beside the checkout)" >&2; exit 1; }

case "${1:-}" in
  start)
    # Other peers may hold the dpkg lock at the same moment (test.sh starts them in a row, CI
    # images run apt themselves): retry instead of failing the whole suite.
    for attempt in 1 2 3 4 5 6 7 8 9 10 11 12; do
      bash "$peer/install.sh" >&2 && break
      [[ $attempt == 12 ]] && { echo "vsphere peer: install failed" >&2; exit 1; }
      echo "vsphere peer: install attempt $attempt failed; retrying in 10 s" >&2
      sleep 10
    done
    # 1 s guest shutdown delay: long enough to observe, short enough for tests. A password no
    # other text contains, so tests can grep logs and state for it (vcsim's default is "pass").
    exports="$(bash "$peer/start.sh" "$port" -- -shutdown-delay 1s -password "${VSPHERE_TEST_PASSWORD:-vcsim-Pw-4f9Q}" 2>&2)"
    grep -E '^export VCSIM_(URL|USERNAME|PASSWORD|CA_FILE|CTL_URL)=' <<<"$exports" \
      || { echo "vsphere peer printed no VCSIM_* exports" >&2; exit 1; }
    ;;
  stop)
    bash "$peer/stop.sh" "$port" >&2
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
