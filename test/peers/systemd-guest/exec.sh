#!/usr/bin/env bash
# exec.sh NAME [CMD [ARG...]]
#
# Runs CMD inside the running guest NAME as root: in all its namespaces and its root directory,
# with a clean environment (default CMD: a login shell). The exit status is CMD's.
#   exec.sh web-1 systemctl is-active sample-app.service
#   exec.sh web-1 cat /run/graceful-vm/status
# (machinectl and systemd-run -M need systemd-machined on the host, which this peer does not use.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
instance "${1:-}"
shift
nspawn=$(nspawn_of "$INST") || fatal "guest '$NAME' is not running"
pid1=$(pid1_of "$nspawn") || fatal "guest '$NAME' has no PID 1 (booting or rebooting?)"
[ $# -gt 0 ] || set -- /bin/bash -l
in_guest "$pid1" "$@"
