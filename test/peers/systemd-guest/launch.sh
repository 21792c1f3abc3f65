#!/usr/bin/env bash
# launch.sh INST -- SYSTEMD-NSPAWN-ARGS...   (internal: run.sh starts it with setsid)
#
# The guest's supervisor, as a hypervisor process would be: puts systemd-nspawn into the instance's
# own cgroups (INST/cgroups), records its PID (INST/nspawn.pid), and when the guest reboots
# (nspawn exits 133) boots it again from the same disk, as a VM comes back after a reboot. On any
# other exit it records the status (INST/nspawn.rc) and the time, and removes the cgroups.
set -u
INST=$1
shift
[ "${1:-}" = -- ] && shift
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

echo $$ >"$INST/launcher.pid"
while :; do
    now >>"$INST/boots"
    (
        if [ -s "$INST/cgroups" ]; then
            while read -r cg; do echo "$BASHPID" >"$cg/cgroup.procs" || exit 97; done <"$INST/cgroups"
        fi
        echo "$BASHPID" >"$INST/nspawn.pid"
        exec systemd-nspawn "$@"
    ) </dev/null >>"$INST/console.log" 2>&1 &
    wait $!
    rc=$?
    # 133: the guest asked for a reboot. stop.sh leaves INST/stopping so a killed guest stays down.
    if [ "$rc" = 133 ] && [ ! -e "$INST/stopping" ]; then
        echo "$(now) rebooted" >>"$INST/reboots"
        continue
    fi
    break
done
echo "$rc" >"$INST/nspawn.rc"
now >"$INST/nspawn.exited_at"
cgroups_remove "$INST"
