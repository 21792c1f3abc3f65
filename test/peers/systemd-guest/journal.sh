#!/usr/bin/env bash
# journal.sh NAME [JOURNALCTL-ARG...]
#
# Prints the guest's journal, running or powered off (until stop.sh --purge), read from its disk
# with the host's journalctl. Default format: `-o short-unix` (`<unix time> <host> <unit>[pid]:
# <message>`, the clock guest and host share); any argument replaces the defaults, e.g.
#   journal.sh web-1 -u sample-app.service -o short-precise
#   journal.sh web-1 -b -1          (the boot before a reboot)
#   journal.sh web-1 -o json --output-fields=MESSAGE,_SYSTEMD_UNIT
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root
instance "${1:-}"
shift
[ -d "$INST/rootfs/var/log/journal" ] || fatal "guest '$NAME' has no journal (never booted, or purged)"
[ $# -gt 0 ] || set -- -o short-unix
# A running guest's journald writes these files while we read them; journalctl copes.
journalctl -D "$INST/rootfs/var/log/journal" --no-pager "$@"
