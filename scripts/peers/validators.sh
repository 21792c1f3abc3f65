#!/usr/bin/env bash
# The offline validators for rendered guest user-data (test/peers/validators): cloud-init schema,
# systemd-analyze verify, shellcheck, python3 compile, json.
#   validators.sh start   install them (apt, idempotent); print `export GUEST_VALIDATOR=...`
#                         on stdout, log to stderr; exit non-zero when they cannot run here.
#   validators.sh stop    nothing to stop (the packages stay installed).
set -euo pipefail
peer=$(cd "$(dirname "$0")/../../test/peers/validators" && pwd)

case "${1:-}" in
start)
    # Without root they still work when already installed: install.sh says what is missing.
    bash "$peer/install.sh" >&2
    q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
    echo "export GUEST_VALIDATOR=$(q "$peer/validate-user-data.sh")"
    ;;
stop) ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
