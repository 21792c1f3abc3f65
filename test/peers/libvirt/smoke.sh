#!/usr/bin/env bash
# End-to-end check of the libvirt peer: starts it (a reuse when it runs), boots two guests at a
# time and checks each behaviour the tests rely on. Ends with "N passed, N failed"; exit 1 on any
# failure. Over SSH too when the SSH front runs (ssh.sh start). ~40 s on 2 busy cores.
set -uo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
need_root

env_lines=$(bash "$peer_dir/peer.sh" start) || die "the peer did not start"
eval "$env_lines"
passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok   - $*"
}
not_ok() {
    failed=$((failed + 1))
    echo "FAIL - $*"
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
now() { date +%s%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", (b - a) / 1e9 }'; }
v() { timeout 90 virsh -q -c "$LVPEER_URI" "$@"; }
hook_log() { cat "$LVPEER_LOG_DIR/$1.hook.log" 2> /dev/null; }
logged() { hook_log "$1" | grep -q "$2"; }
wait_until() { # wait_until SECONDS COMMAND...
    local until=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt $until ] || return 1
        sleep 0.2
    done
}
is_off() { [ "$(v domstate --domain "$1")" = "shut off" ]; }
is_running() { [ "$(v domstate --domain "$1")" = "running" ]; }
agent_answers() { v qemu-agent-command --domain "$1" '{"execute":"guest-ping"}' > /dev/null 2>&1; }
# A fresh, stopped domain with empty logs.
define() { # define NAME VARIANT [KNOB...]
    local name=$1 variant=$2
    shift 2
    v destroy --domain "$name" > /dev/null 2>&1
    v undefine --domain "$name" > /dev/null 2>&1
    rm -f "$LVPEER_LOG_DIR/$name".*.log
    sh "$LVPEER_SCRIPTS/domain-xml.sh" "$name" "$variant" "$LVPEER_GUEST_DIR" "$LVPEER_LOG_DIR" "$@" > "$LVPEER_STATE/$name.xml" &&
        v define "$LVPEER_STATE/$name.xml" > /dev/null
}
a=lvsmoke-a
b=lvsmoke-b

echo "# guest image $LVPEER_GUEST_DIR, URI $LVPEER_URI"
# 1. graceful (3 s pre-stop hook) and hung, side by side: ACPI power button to both.
define $a graceful lvtest.prestop_delay=3 && define $b hung
t=$(now)
v start --domain $a > /dev/null && v start --domain $b > /dev/null
wait_until 90 eval "logged $a 'lvtest: ready' && logged $b 'lvtest: ready'"
check "both guests report ready ($(since "$t") after start)" eval "logged $a 'lvtest: ready' && logged $b 'lvtest: ready'"
t=$(now)
v shutdown --mode acpi --domain $a > /dev/null
v shutdown --mode acpi --domain $b > /dev/null
check "graceful guest: power button -> pre-stop hook (3 s) -> off" wait_until 60 is_off $a
echo "#   off $(since "$t") after the button: $(v domstate --reason --domain $a)"
check "graceful guest: hook log has the button, prestop: begin/done, in order" \
    eval "hook_log $a | grep -o 'acpi: power button pressed\|prestop: begin\|prestop: done' | tr '\n' , | grep -qx 'acpi: power button pressed,prestop: begin,prestop: done,'"
check "hung guest: still running after the button" is_running $b
check "hung guest: no pre-stop hook ran" eval "! logged $b 'prestop:'"
v destroy --domain $b > /dev/null
check "hung guest: destroy -> shut off (destroyed)" eval "[ \"\$(v domstate --reason --domain $b)\" = 'shut off (destroyed)' ]"

# 2. the agent path, and a pre-stop hook that never ends on a guest without an agent channel.
define $a graceful && define $b graceful lvtest.prestop_delay=forever lvpeer.agent_channel=0
t=$(now)
v start --domain $a > /dev/null && v start --domain $b > /dev/null
wait_until 90 agent_answers $a
check "agent answers guest-ping ($(since "$t") after start)" agent_answers $a
check "no channel: the guest reports no agent" wait_until 90 logged $b 'no virtio-serial channel'
no_agent=$(v qemu-agent-command --domain $b '{"execute":"guest-ping"}' 2>&1)
check "no channel: guest-ping fails ($no_agent)" eval "! agent_answers $b"
t=$(now)
v shutdown --mode agent --domain $a > /dev/null
check "agent shutdown -> off" wait_until 60 is_off $a
echo "#   off $(since "$t") after shutdown --mode agent"
check "agent shutdown ran the pre-stop hook" eval "logged $a 'agent: shutdown' && logged $a 'prestop: done'"
check "endless pre-stop hook: ready" wait_until 90 logged $b 'lvtest: ready'
v shutdown --mode acpi --domain $b > /dev/null
check "endless pre-stop hook: begins" wait_until 30 logged $b 'prestop: hanging forever'
sleep 3
check "endless pre-stop hook: still running 3 s later, no prestop: done" eval "is_running $b && ! logged $b 'prestop: done'"

# 3. over SSH, when the front runs
if [ -s "${LVPEER_SSH_STATE:-$(dirname "$LVPEER_STATE")/libvirt-ssh}/port" ]; then
    eval "$(bash "$peer_dir/ssh.sh" start 2> /dev/null)"
    check "over SSH: virsh list --all sees the smoke guests" eval "virsh -q -c \"\$LVPEER_SSH_URI\" list --all --name | grep -qx $b"
    check "over SSH: unknown host key refused" eval "! virsh -q -c \"\$LVPEER_SSH_URI_UNKNOWN_HOST\" list > /dev/null 2>&1"
    check "over SSH: unauthorized key refused" eval "! virsh -q -c \"\$LVPEER_SSH_URI_AUTH_REFUSED\" list > /dev/null 2>&1"
fi

for d in $a $b; do
    v destroy --domain "$d" > /dev/null 2>&1
    v undefine --domain "$d" > /dev/null 2>&1
    rm -f "$LVPEER_STATE/$d.xml" "$LVPEER_LOG_DIR/$d".*.log
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
