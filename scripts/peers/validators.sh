#!/usr/bin/env bash
# The offline validators for rendered guest user-data (../shared/peers/validators):
# cloud-init schema, systemd-analyze verify, shellcheck.
#   validators.sh start   install them (apt, idempotent); print `export GUEST_VALIDATOR=...`
#                         on stdout, log to stderr; exit non-zero when they cannot run here.
#   validators.sh stop    nothing to stop (the packages stay installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peer=$(cd "$here/../../../shared/peers/validators" 2>/dev/null && pwd) || {
    echo "validators peer: ../shared/peers/validators not found beside the repository" >&2
    exit 1
}

case "${1:-}" in
start)
    if [ "$(id -u)" != 0 ]; then
        # Without root we can still use them when they are already installed.
        for bin in cloud-init shellcheck systemd-analyze; do
            command -v "$bin" >/dev/null || { echo "validators peer: $bin missing and not root to install it" >&2; exit 1; }
        done
    else
        bash "$peer/install.sh" >&2
    fi
    q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
    echo "export GUEST_VALIDATOR=$(q "$peer/validate-user-data.sh")"
    ;;
stop)
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
