# shellcheck shell=sh disable=SC2034 # the variables are for the scripts that source this
# Sourced by the guest's scripts (busybox ash): the knobs from the kernel command line, and `say`,
# which writes one line to the hook log the host reads (ttyS1, a libvirt file serial) and the console.
#   lvtest.mode=graceful|hung       hung: no power-button driver, and the agent's shutdown is ignored
#   lvtest.prestop_delay=N|forever  the pre-stop hook sleeps N seconds, or never finishes
#   lvtest.agent=1|0                0: qemu-ga is not started (the channel may still be in the XML)
MODE=graceful
PRESTOP_DELAY=0
AGENT=1
# shellcheck disable=SC2013 # the command line is one line of words
for arg in $(cat /proc/cmdline); do
    case $arg in
    lvtest.mode=*) MODE=${arg#*=} ;;
    lvtest.prestop_delay=*) PRESTOP_DELAY=${arg#*=} ;;
    lvtest.agent=*) AGENT=${arg#*=} ;;
    esac
done
say() {
    line="lvtest: $* t=$(cut -d' ' -f1 /proc/uptime)"
    echo "$line" >/dev/ttyS1 2>/dev/null
    echo "$line" >/dev/console 2>/dev/null
}
