#!/usr/bin/env bash
# stop.sh [NAME...] [--all] [--purge]
#
# Hard stop, like pulling a VM's power: SIGKILL to the guest's PID 1 (the kernel kills the whole
# PID namespace; no ExecStop= runs), then TERM/KILL to its systemd-nspawn if that lingers, and the
# guest's cgroups are removed. Only the PIDs run.sh recorded are signalled, after checking their
# command lines. Idempotent: a guest that is not running is not an error.
#   --all     every guest this checkout started (instances-CHECKOUT, see lib.sh)
#   --purge   also unmount and delete the guest's state directory (its disk); never a --log-dir
#             given to run.sh
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

purge=0 all=0 targets=()
for arg in "$@"; do
    case $arg in
    --purge) purge=1 ;;
    --all) all=1 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) fatal "unknown option $arg" ;;
    *) targets+=("$arg") ;;
    esac
done
if [ "$all" = 1 ]; then
    for d in "$SGP_INSTANCES"/*/; do [ -f "$d$SGP_MARK" ] && targets+=("${d%/}"); done
fi
[ ${#targets[@]} -gt 0 ] || { [ "$all" = 1 ] && exit 0; fatal "which guests? NAME... or --all"; }

gone_within() { # PID TENTHS_OF_A_SECOND
    local i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$1" 2>/dev/null
}

rc=0
for t in "${targets[@]}"; do
    instance "$t"
    [ -d "$INST" ] || { say "'$NAME': nothing to stop"; continue; }
    # The launcher must not boot the guest again when its nspawn exits.
    touch "$INST/stopping"
    if nspawn=$(nspawn_of "$INST"); then
        t0=$(now)
        pid1=$(pid1_of "$nspawn" || true)
        [ -z "$pid1" ] || kill -KILL "$pid1" 2>/dev/null || true
        if ! gone_within "$nspawn" 50; then
            owned_nspawn "$nspawn" "$INST" && kill -TERM "$nspawn" 2>/dev/null
            if ! gone_within "$nspawn" 30; then
                owned_nspawn "$nspawn" "$INST" && kill -KILL "$nspawn" 2>/dev/null
                gone_within "$nspawn" 30 || { say "'$NAME': systemd-nspawn $nspawn does not exit"; rc=1; }
            fi
        fi
        say "'$NAME': powered off hard in $(seconds "$t0") s"
    fi
    launcher=$(cat "$INST/launcher.pid" 2>/dev/null || true)
    if owned_launcher "$launcher" "$INST" && ! gone_within "$launcher" 30; then
        owned_launcher "$launcher" "$INST" && kill -TERM "$launcher" 2>/dev/null
    fi
    cgroups_remove "$INST"
    if [ "$purge" = 1 ]; then
        if [ -f "$INST/$SGP_MARK" ] && ! nspawn_of "$INST" >/dev/null; then
            disk_release "$INST"
            rm -rf --one-file-system "$INST"
        else
            say "'$NAME': not purging $INST (still running, or not made by run.sh)"
            rc=1
        fi
    fi
done
exit $rc
