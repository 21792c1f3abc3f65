#!/usr/bin/env bash
# shutdown.sh NAME [--reboot] [--timeout SEC] [--method signal|systemctl|term] [--kill-on-timeout]
#             [--no-collect]
#
# Asks guest NAME to power off (or reboot) the way a hypervisor does and times it. The guest's
# systemd runs its whole shutdown transaction: units stop in reverse start order, every ExecStop=
# bounded by TimeoutStopSec=, then SIGTERM/SIGKILL per KillMode=.
#   --method signal     (default) SIGRTMIN+4 to the guest's PID 1 (SIGRTMIN+5 with --reboot):
#                       systemd starts poweroff.target (reboot.target), the job logind starts when
#                       a VM's ACPI power button is pressed
#   --method systemctl  `systemctl poweroff|reboot --no-block` inside the guest (a guest agent's way)
#   --method term       SIGTERM to systemd-nspawn, which passes SIGRTMIN+4 on (poweroff only)
#   --reboot            reboot instead: waits until the guest is down AND back up (systemd settled
#                       again on the same disk; cloud-init's per-instance modules do not run twice)
#   --timeout SEC       how long the guest gets (default 120; decimals allowed)
#   --kill-on-timeout   hard-stop it (stop.sh) when the time is up
#   --no-collect        do not copy the guest's logs to LOG_DIR/guest/
#
# Afterwards (not on a plain timeout) LOG_DIR/guest/ gets journal.txt (`journalctl -o
# short-unix`, every boot), cloud-init.log, cloud-init-output.log, console.log.
# stdout: KEY=VALUE lines (also in INST/shutdown.env):
#   SGP_SHUTDOWN_RESULT   poweroff | reboot | timeout | killed | exited-rc-N
#   SGP_SHUTDOWN_SECONDS  request -> the guest's shutdown finished (nspawn exited)
#   SGP_REBOOT_SECONDS    request -> systemd settled after the reboot (--reboot only)
#   SGP_SHUTDOWN_REQUESTED_AT, SGP_SHUTDOWN_FINISHED_AT (unix times), SGP_NSPAWN_RC
# Exit: 0 as asked; 124 timeout (still running unless --kill-on-timeout); 2 nspawn ended another
# way; 1 error (not running...).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

target='' timeout=120 method=signal kill_late=0 collect=1 reboot=0
while [ $# -gt 0 ]; do
    opt=$1
    if [[ $opt == --*=* ]]; then set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; opt=$1; fi
    case $opt in
    --timeout) timeout=${2:-}; shift ;;
    --method) method=${2:-}; shift ;;
    --kill-on-timeout) kill_late=1 ;;
    --no-collect) collect=0 ;;
    --reboot) reboot=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) fatal "unknown option $opt" ;;
    *) target=$opt ;;
    esac
    shift
done
[[ $timeout =~ ^[0-9]+([.][0-9]+)?$ ]] || fatal "bad --timeout '$timeout'"
[[ $method =~ ^(signal|systemctl|term)$ ]] || fatal "unknown --method '$method' (signal, systemctl, term)"
[ "$reboot" = 0 ] || [ "$method" != term ] || fatal "--method term cannot reboot"
instance "$target"
nspawn=$(nspawn_of "$INST") || fatal "guest '$NAME' is not running"
pid1=$(pid1_of "$nspawn") || fatal "guest '$NAME' has no PID 1"
# shellcheck disable=SC1091 # written by run.sh, shell-quoted
log_dir=$(. "$INST/env" 2>/dev/null && printf '%s' "${SGP_LOG_DIR:-}") || log_dir=''
boots_before=$(wc -l <"$INST/boots")

past() { awk -v d="$1" -v n="$(now)" 'BEGIN { exit !(n >= d) }'; }
t0=$(now)
deadline=$(awk -v t="$t0" -v d="$timeout" 'BEGIN { printf "%.3f", t + d }')
case $method/$reboot in
signal/0) kill -s RTMIN+4 "$pid1" ;;
signal/1) kill -s RTMIN+5 "$pid1" ;;
systemctl/0) in_guest "$pid1" systemctl poweroff --no-block ;;
systemctl/1) in_guest "$pid1" systemctl reboot --no-block ;;
term/0) kill -s TERM "$nspawn" ;;
esac
say "asked '$NAME' to $([ "$reboot" = 1 ] && echo reboot || echo power off) ($method); waiting up to ${timeout}s"

# Down: the nspawn that ran the guest exits (on reboot launch.sh then boots it again).
result=''
while owned_nspawn "$nspawn" "$INST"; do
    if past "$deadline"; then result=timeout; break; fi
    sleep 0.05
done
t1=$(now)
nspawn_rc=none
if [ -z "$result" ] && [ "$reboot" = 1 ]; then
    # Up again: a new boot recorded, a new PID 1, systemd settled.
    result=timeout
    while ! past "$deadline"; do
        if [ "$(wc -l <"$INST/boots")" -gt "$boots_before" ] && n=$(nspawn_of "$INST") && p=$(pid1_of "$n") &&
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
            # Until systemd's manager answers, `is-system-running --wait` returns "offline" at once.
            state=$(timeout 5 nsenter --target "$p" --mount --pid --root -- \
                /usr/bin/systemctl is-system-running --wait 2>/dev/null || true)
            if [[ $state =~ ^(running|degraded|maintenance)$ ]]; then result=reboot; break; fi
        fi
        if [ -f "$INST/nspawn.rc" ]; then result=exited-rc-$(cat "$INST/nspawn.rc"); break; fi
        sleep 0.05
    done
    nspawn_rc=133
elif [ -z "$result" ]; then
    # launch.sh writes the exit status right after nspawn exits
    for _ in $(seq 60); do [ -f "$INST/nspawn.rc" ] && break; sleep 0.05; done
    nspawn_rc=$(cat "$INST/nspawn.rc" 2>/dev/null || echo unknown)
    if [ "$nspawn_rc" = 0 ]; then result=poweroff; else result=exited-rc-$nspawn_rc; fi
fi
t2=$(now)
if [ "$result" = timeout ] && [ "$kill_late" = 1 ]; then
    say "'$NAME' is still up after ${timeout}s: hard stop"
    "$SGP_DIR/stop.sh" "$INST" >&2 || true
    result=killed
fi

{
    echo "SGP_SHUTDOWN_METHOD=$method"
    echo "SGP_SHUTDOWN_REQUESTED_AT=$t0"
    echo "SGP_SHUTDOWN_FINISHED_AT=$t1"
    echo "SGP_SHUTDOWN_SECONDS=$(seconds "$t0" "$t1")"
    [ "$reboot" = 0 ] || echo "SGP_REBOOT_SECONDS=$(seconds "$t0" "$t2")"
    echo "SGP_SHUTDOWN_RESULT=$result"
    echo "SGP_NSPAWN_RC=$nspawn_rc"
} >"$INST/shutdown.env"

if [ "$collect" = 1 ] && [ "$result" != timeout ] && [ -n "$log_dir" ] && [ -d "$log_dir" ]; then
    g=$log_dir/guest
    mkdir -p "$g"
    journalctl -D "$INST/rootfs/var/log/journal" -o short-unix --no-pager >"$g/journal.txt" 2>&1 || true
    for f in cloud-init.log cloud-init-output.log; do
        [ ! -f "$INST/rootfs/var/log/$f" ] || cp "$INST/rootfs/var/log/$f" "$g/$f"
    done
    sed 's/\x1b\[[0-9;]*m//g' "$INST/console.log" >"$g/console.log" 2>/dev/null || true
    cp "$INST/shutdown.env" "$g/shutdown.env"
fi

say "'$NAME': $result, down after $(seconds "$t0" "$t1") s"
cat "$INST/shutdown.env"
case $result in
poweroff | reboot) exit 0 ;;
exited-rc-*) exit 2 ;;
*) exit 124 ;;
esac
