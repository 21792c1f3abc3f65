#!/bin/sh
# Prints the libvirt domain XML of a test guest (define it with `virsh define FILE`).
#
#   domain-xml.sh NAME graceful|hung GUESTDIR LOGDIR [KNOB...]
#
#   GUESTDIR  what build-guest.sh printed ($LVPEER_GUEST_DIR)
#   LOGDIR    where the guest's serial ports go ($LVPEER_LOG_DIR), appended to across boots:
#               NAME.hook.log     ttyS1: one "lvtest: ..." line per event (booted, ready,
#                                 acpi: power button pressed, agent: shutdown ..., prestop: begin,
#                                 prestop: done, powering off)
#               NAME.console.log  ttyS0: kernel and init console (the same lines, and more)
#   KNOB      guest behaviour, on the kernel command line:
#               lvtest.prestop_delay=N | lvtest.prestop_delay=forever   a slow or endless pre-stop hook
#               lvtest.agent=0          qemu-ga not started: the channel exists, the agent never connects
#             or of the domain (not passed to the guest):
#               lvpeer.agent_channel=0  no guest-agent channel in the XML at all
# Env: LVPEER_DOMAIN_TYPE=qemu (default: TCG) | kvm, LVPEER_MEMORY_MIB (default 128).
#
# POSIX sh: test/libvirt/guests.ts runs it with `sh`.
set -eu
name=${1:?usage: domain-xml.sh NAME graceful|hung GUESTDIR LOGDIR [KNOB...]}
variant=${2:?variant: graceful or hung}
guest=${3:?guest directory}
logs=${4:?log directory}
shift 4
case $variant in graceful | hung) ;; *)
    echo "domain-xml.sh: variant must be graceful or hung, not '$variant'" >&2
    exit 2
    ;;
esac
case $name in *[!A-Za-z0-9_.-]*)
    echo "domain-xml.sh: domain name '$name' must be letters, digits, '_', '.', '-'" >&2
    exit 2
    ;;
esac
if [ ! -s "$guest/vmlinuz" ] || [ ! -s "$guest/initramfs.cpio.gz" ]; then
    echo "domain-xml.sh: no guest image in $guest (run build-guest.sh)" >&2
    exit 1
fi
guest=$(cd "$guest" && pwd)
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)

channel=1
cmdline="console=ttyS0 quiet panic=-1 lvtest.mode=$variant"
for knob in "$@"; do
    case $knob in
    lvpeer.agent_channel=0) channel=0 ;;
    lvpeer.*) ;;
    *[!A-Za-z0-9_.=-]*)
        echo "domain-xml.sh: knob '$knob' has characters a kernel command line in XML cannot take" >&2
        exit 2
        ;;
    *) cmdline="$cmdline $knob" ;;
    esac
done

type=${LVPEER_DOMAIN_TYPE:-qemu}
# TCG's translation cache defaults to 1 GiB per guest; 32 MiB is plenty for this guest.
features="<acpi/>"
[ "$type" = qemu ] && features="$features<tcg><tb-cache unit='MiB'>32</tb-cache></tcg>"
agent=""
[ $channel = 1 ] && agent="<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"

# <acpi/> is what makes the power button exist; no disk, no NIC, no graphics, no balloon.
cat << EOF
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>${LVPEER_MEMORY_MIB:-128}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initramfs.cpio.gz</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features>$features</features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='$logs/$name.console.log' append='on'/><target port='0'/></serial>
    <serial type='file'><source path='$logs/$name.hook.log' append='on'/><target port='1'/></serial>
    $agent
    <memballoon model='none'/>
  </devices>
</domain>
EOF
