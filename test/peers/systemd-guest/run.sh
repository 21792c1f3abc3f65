#!/usr/bin/env bash
# run.sh --user-data FILE [options]
#
# Boots a guest on a fresh disk (an overlay on the template rootfs) as a systemd-nspawn container
# (systemd 252 as PID 1, cloud-init 22.4 reading FILE from its NoCloud seed), waits until
# cloud-init has finished and systemd has settled, and prints the guest's variables.
#
#   --user-data FILE      cloud-init user-data (#cloud-config, a script, MIME multipart)
#   --name NAME           guest name (hostname until cloud-init sets one); default guest
#   --log-dir DIR         host directory bind-mounted read-write at --log-mount; created, never
#                         emptied (default INST/logs). shutdown.sh copies the guest's logs to DIR/guest/
#   --log-mount PATH      where DIR appears in the guest (default /var/log/peer)
#   --meta-data FILE      NoCloud meta-data (default: instance-id NAME-<random>, local-hostname NAME)
#   --vendor-data FILE    NoCloud vendor-data
#   --file SRC:DEST[:MODE]  copy host file SRC to DEST on the guest's disk before it boots
#                         (repeatable): a service baked into the image, there before cloud-init runs
#   --enable UNIT         `systemctl enable` UNIT on the guest's disk before it boots (repeatable)
#   --template ROOTFS     the guest's disk starts as this rootfs, or DIR/rootfs (default
#                         $SGP_TEMPLATE_ROOTFS, else what build-rootfs.sh prints)
#   --timeout SEC         wait at most SEC for cloud-init and systemd (default 180)
#   --no-wait             return once the guest's PID 1 runs
#   --nspawn-arg ARG      one more systemd-nspawn argument (repeatable)
#
# stdout: KEY=VALUE lines (shell-quoted; also in INST/env). Progress on stderr.
# Exit: 0 cloud-init done; 3 cloud-init reported errors (the guest keeps running); 1 the guest
# did not come up in time (left running for inspection: stop.sh NAME).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root

user_data='' NAME=guest log_dir='' log_mount=/var/log/peer meta_data='' vendor_data=''
template=${SGP_TEMPLATE_ROOTFS:-} timeout=180 wait=1
files=() units=() extra=()
while [ $# -gt 0 ]; do
    opt=$1
    if [[ $opt == --*=* ]]; then set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; opt=$1; fi
    case $opt in
    --no-wait) wait=0; shift; continue ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --*) [ $# -ge 2 ] || fatal "$opt needs a value" ;;
    *) fatal "unexpected argument '$opt' (see --help)" ;;
    esac
    case $opt in
    --user-data) user_data=$2 ;;
    --name) NAME=$2 ;;
    --log-dir) log_dir=$2 ;;
    --log-mount) log_mount=$2 ;;
    --meta-data) meta_data=$2 ;;
    --vendor-data) vendor_data=$2 ;;
    --file) files+=("$2") ;;
    --enable) units+=("$2") ;;
    --template) template=$2 ;;
    --timeout) timeout=$2 ;;
    --nspawn-arg) extra+=("$2") ;;
    *) fatal "unknown option $opt (see --help)" ;;
    esac
    shift 2
done
[ -n "$user_data" ] || fatal "--user-data FILE is required"
for f in "$user_data" ${meta_data:+"$meta_data"} ${vendor_data:+"$vendor_data"}; do
    [ -f "$f" ] || fatal "no such file: $f"
done
name_ok "$NAME" || fatal "bad --name '$NAME' (letters, digits, '-', at most 63)"
[[ $timeout =~ ^[0-9]+$ ]] || fatal "bad --timeout '$timeout' (whole seconds)"
[[ $log_mount == /* ]] || fatal "--log-mount must be an absolute path in the guest"
command -v systemd-nspawn >/dev/null || fatal "systemd-nspawn is missing: run install.sh"

INST=$SGP_INSTANCES/$NAME
if pid=$(nspawn_of "$INST"); then fatal "guest '$NAME' is running (systemd-nspawn $pid): shutdown.sh or stop.sh it first"; fi
[ -n "$template" ] || template=$("$SGP_DIR/build-rootfs.sh")
# A template directory (the rootfs inside it) is accepted too.
[ ! -f "$template/rootfs/etc/os-release" ] || template=$template/rootfs
[ -f "$template/etc/os-release" ] || fatal "no rootfs at $template"

t_start=$(now)
disk_release "$INST"
rm -rf --one-file-system "$INST"
mkdir -p "$INST"
touch "$INST/$SGP_MARK"
echo "$NAME" >"$INST/name"
log_dir=${log_dir:-$INST/logs}
mkdir -p "$log_dir"
log_dir=$(cd "$log_dir" && pwd)
[[ $log_dir != *:* ]] || fatal "--log-dir must not contain ':' (systemd-nspawn's --bind separator)"

# --- the guest's disk: the template under an overlay, the NoCloud seed, baked-in files --------
# An overlay costs nothing to make and holds only what the guest writes; copying 200 MiB takes
# seconds, or half a minute on a busy disk. Where overlayfs cannot be mounted: a full copy.
R=$INST/rootfs
mkdir -p "$R" "$INST/upper" "$INST/overlay-work"
if mount -t overlay "gvm-guest-$NAME" -o "lowerdir=$template,upperdir=$INST/upper,workdir=$INST/overlay-work" "$R" 2>/dev/null; then
    echo overlay >"$INST/disk"
else
    rmdir "$R"
    cp -a --reflink=auto "$template" "$R"
    echo copy >"$INST/disk"
fi
seed=$R/var/lib/cloud/seed/nocloud
mkdir -p "$seed" "$R$log_mount"
cp "$user_data" "$seed/user-data"
if [ -n "$meta_data" ]; then
    cp "$meta_data" "$seed/meta-data"
else
    printf 'instance-id: %s-%s\nlocal-hostname: %s\n' "$NAME" "$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" "$NAME" >"$seed/meta-data"
fi
[ -z "$vendor_data" ] || cp "$vendor_data" "$seed/vendor-data"
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$R/etc/machine-id"
echo >>"$R/etc/machine-id"
for spec in "${files[@]}"; do
    IFS=: read -r src dest mode <<<"$spec"
    if [ ! -f "$src" ] || [[ ${dest:-} != /* ]]; then fatal "bad --file '$spec' (SRC:/absolute/DEST[:MODE], SRC a file)"; fi
    install -D -m "${mode:-0644}" "$src" "$R$dest"
done
for unit in "${units[@]}"; do
    systemctl --root="$R" enable "$unit" >/dev/null 2>&1 || fatal "cannot enable $unit on the guest's disk"
done
t_copied=$(now)

# --- boot ------------------------------------------------------------------------------------
args=(--boot "--directory=$R" "--machine=$NAME" --register=no --private-network --link-journal=no
    --settings=no --console=read-only --kill-signal=SIGRTMIN+4 "--bind=$log_dir:$log_mount")
: >"$INST/cgroups"
if ! host_has_systemd; then
    # Without systemd on the host, nspawn can ask nobody for a scope: --keep-unit makes it split the
    # cgroup it runs in, which is one of ours per guest so that two guests never share a payload.
    args+=(--keep-unit)
    while read -r mnt key; do
        [ -n "$mnt" ] || continue
        if [ "$key" = "0::" ]; then
            here=$(awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup)
        else
            here=$(awk -F: -v k="$key" '$2 == k { print $3; exit }' /proc/self/cgroup)
        fi
        cg=$mnt${here%/}/gvm-guest-$SGP_CHECKOUT-$NAME
        mkdir -p "$cg"
        echo "$cg" >>"$INST/cgroups"
    done < <(cgroup_roots)
fi
args+=("${extra[@]}")
setsid "$SGP_DIR/launch.sh" "$INST" -- "${args[@]}" </dev/null >/dev/null 2>&1 &
t_launch=$(now)

give_up() {
    say "$1"
    [ ! -s "$INST/console.log" ] || { say "console (last lines):"; tail -n 20 "$INST/console.log" | sed 's/\x1b\[[0-9;]*m//g' >&2; }
    say "inspect: exec.sh $NAME systemctl --failed; journal.sh $NAME; clean up: stop.sh $NAME --purge"
    exit 1
}
deadline=$(( ${t_launch%.*} + timeout ))
nspawn='' pid1=''
until [ -n "$pid1" ]; do
    [ -n "$nspawn" ] || nspawn=$(nspawn_of "$INST" || true)
    if [ -n "$nspawn" ]; then
        p=$(pid1_of "$nspawn" || true)
        # nspawn's child becomes systemd when it execs it
        [ -z "$p" ] || [ "$(cat "/proc/$p/comm" 2>/dev/null)" != systemd ] || pid1=$p
    fi
    [ ! -f "$INST/nspawn.rc" ] || give_up "systemd-nspawn exited with status $(cat "$INST/nspawn.rc") while starting"
    [ "$(date +%s)" -lt "$deadline" ] || give_up "the guest's PID 1 did not start within ${timeout}s"
    [ -n "$pid1" ] || sleep 0.05
done
t_pid1=$(now)

write_env() {
    {
        printf 'SGP_NAME=%q\nSGP_STATE=%q\nSGP_ROOTFS=%q\nSGP_LOG_DIR=%q\nSGP_LOG_MOUNT=%q\n' \
            "$NAME" "$INST" "$R" "$log_dir" "$log_mount"
        printf 'SGP_NSPAWN_PID=%q\nSGP_LEADER_PID=%q\nSGP_STARTED_AT=%q\n' "$nspawn" "$pid1" "$t_launch"
        printf 'SGP_CLOUD_INIT_STATUS=%q\nSGP_SYSTEM_STATE=%q\nSGP_READY_SECONDS=%q\n' \
            "${ci_status:-unknown}" "${sys_state:-unknown}" "${ready:-}"
    } >"$INST/env"
}
write_env
if [ "$wait" = 0 ]; then
    say "guest '$NAME' started (guest PID 1 = host PID $pid1); not waiting for cloud-init"
    cat "$INST/env"
    exit 0
fi

# --- ready: cloud-init's result.json (end of cloud-final), then systemd settled ----------------
# The guest's /run is a tmpfs the host sees only through /proc/PID1/root.
result=/proc/$pid1/root/run/cloud-init/result.json
until [ -e "$result" ]; do
    kill -0 "$nspawn" 2>/dev/null || give_up "the guest stopped before cloud-init finished"
    state=$(timeout 5 nsenter --target "$pid1" --mount --pid --root -- /usr/bin/systemctl is-system-running 2>/dev/null || true)
    if [[ $state =~ ^(running|degraded|maintenance)$ ]]; then
        sleep 1 # cloud-final writes result.json as its last step
        [ -e "$result" ] || give_up "systemd is $state but cloud-init wrote no result.json (see $R/var/log/cloud-init.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || give_up "cloud-init did not finish within ${timeout}s"
    sleep 0.1
done
t_cloud_init=$(now)
left=$(( deadline - $(date +%s) ))
sys_state=$(timeout "$(( left > 2 ? left : 2 ))" nsenter --target "$pid1" --mount --pid --root -- \
    /usr/bin/systemctl is-system-running --wait 2>/dev/null || true)
t_settled=$(now)
ci_long=$(in_guest "$pid1" cloud-init status --long 2>&1 || true)
ci_status=$(awk '/^status:/ { print $2; exit }' <<<"$ci_long")
ready=$(seconds "$t_launch" "$t_settled")
write_env
{
    echo "SGP_TIME_COPY=$(seconds "$t_start" "$t_copied")"
    echo "SGP_TIME_PID1=$(seconds "$t_launch" "$t_pid1")"
    echo "SGP_TIME_CLOUD_INIT=$(seconds "$t_launch" "$t_cloud_init")"
    echo "SGP_TIME_SETTLED=$ready"
} >>"$INST/env"

say "guest '$NAME': cloud-init ${ci_status:-?}, systemd ${sys_state:-?}; copy $(seconds "$t_start" "$t_copied") s," \
    "boot to cloud-init done $(seconds "$t_launch" "$t_cloud_init") s, settled $ready s"
# shellcheck disable=SC2001 # indent every line of a multi-line text
[ "$ci_status" = "done" ] || sed 's/^/  cloud-init: /' <<<"$ci_long" >&2
[ "$sys_state" = running ] || in_guest "$pid1" systemctl --failed --no-legend --plain 2>/dev/null | sed 's/^/  failed: /' >&2 || true
cat "$INST/env"
case $ci_status in
done) exit 0 ;;
error | degraded) exit 3 ;;
*) exit 1 ;;
esac
