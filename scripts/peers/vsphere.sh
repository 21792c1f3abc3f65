#!/usr/bin/env bash
# The vSphere test peer for scripts/test.sh and CI: our govmomi simulator (test/peers/vsphere/)
# twice, as vCenter on $VSPHERE_TEST_PORT (default 18988) and as a standalone ESXi host on
# $VSPHERE_TEST_ESX_PORT (default that port + 10).
#   vsphere.sh start   install and build if needed, start both (or reuse running ones of the same
#                      build), smoke-check them, print `export VCSIM_*=...` and
#                      `export VCSIM_ESX_*=...` lines on stdout; everything else goes to stderr
#   vsphere.sh stop    stop both (idempotent; only processes this script started)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer="$here/../../test/peers/vsphere"
port="${VSPHERE_TEST_PORT:-18988}"
esx_port="${VSPHERE_TEST_ESX_PORT:-$((port + 10))}"
# A password no other text contains, so tests can grep logs, errors and state for it.
password="${VSPHERE_TEST_PASSWORD:-vcsim-Pw-4f9Q}"
state="${TMPDIR:-/tmp}/graceful-vm-vsphere-peer"

log() { echo "vsphere peer: $*" >&2; }

# ours PID PORT: that process is our simulator listening on PORT.
ours() {
  [[ $1 =~ ^[0-9]+$ && -r /proc/$1/cmdline ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ $cmdline == *graceful-vm-vcsim\ * && $cmdline == *" -l 127.0.0.1:$2 "* ]]
}

stop_one() { # PORT
  local pidf="$state/$1.pid" pid
  [[ -f $pidf ]] || return 0
  pid="$(cat "$pidf")"
  if ours "$pid" "$1"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do ours "$pid" "$1" || break; sleep 0.1; done
    if ours "$pid" "$1"; then
      log "pid $pid (port $1) ignored SIGTERM for 5 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped pid $pid (port $1)"
  fi
  rm -f "$pidf" "$state/$1.env" "$state/$1.pem"
}

# start_one PORT BIN FLAGS...: starts one simulator (or keeps the running one if it runs this
# build with these flags on this port) and waits until it has written its env file.
start_one() {
  local port="$1" bin="$2"
  shift 2
  local pidf="$state/$port.pid" envf="$state/$port.env" logf="$state/$port.log"
  local argv=("$bin" -l "127.0.0.1:$port" -cert-file "$state/$port.pem" -env-file "$envf" -password "$password" "$@")
  if [[ -f $pidf && -s $envf && -s $state/$port.pem ]] && ours "$(cat "$pidf")" "$port"; then
    # The binary's path names the build (a hash of the sources), so this compares both.
    if [[ "$(tr '\0' ' ' <"/proc/$(cat "$pidf")/cmdline")" == "${argv[*]} " ]]; then
      log "reusing pid $(cat "$pidf") on port $port"
      return 0
    fi
    log "port $port runs another build or other flags; restarting it"
  fi
  stop_one "$port"
  local t0
  t0=$(date +%s%N)
  # setsid: its own session, so the caller's job control and signals do not reach it.
  setsid "${argv[@]}" </dev/null >"$logf" 2>&1 &
  local pid=$!
  echo "$pid" >"$pidf"
  for _ in $(seq 1 300); do
    [[ -s $envf ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the simulator on port $port exited at start; its log:"
      tail -20 "$logf" >&2
      if grep -q 'address already in use' "$logf"; then
        log "port $port is taken by: $(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:.*' || echo 'another process')"
        log "set VSPHERE_TEST_PORT (and VSPHERE_TEST_ESX_PORT) to free ports, or stop that process"
      fi
      rm -f "$pidf"
      return 1
    fi
    sleep 0.1
  done
  [[ -s $envf ]] || { log "not ready after 30 s on port $port; log $logf"; return 1; }
  log "port $port ready in $((($(date +%s%N) - t0) / 1000000)) ms (pid $pid, log $logf)"
}

# smoke PREFIX: the instance whose variables start with PREFIX answers a login and its control
# endpoint, with TLS verified against its own certificate.
smoke() {
  local prefix="$1" url user pass ctl ca
  url="$(sed -n "s/^export ${prefix}URL=//p" "$2")"
  user="$(sed -n "s/^export ${prefix}USERNAME=//p" "$2")"
  pass="$(sed -n "s/^export ${prefix}PASSWORD=//p" "$2")"
  ctl="$(sed -n "s/^export ${prefix}CTL_URL=//p" "$2")"
  ca="$(sed -n "s/^export ${prefix}CA_FILE=//p" "$2")"
  curl -fsS --max-time 10 --cacert "$ca" "$ctl/about" | grep -q "\"mode\": \"$3\"" \
    || { log "smoke: $ctl/about does not say mode $3"; return 1; }
  local content session
  content="$(curl -sS --max-time 10 --cacert "$ca" -H 'Content-Type: text/xml; charset=utf-8' --data-binary \
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body></soapenv:Envelope>' \
    "$url/smoke")"
  session="$(sed -n 's/.*<sessionManager type="SessionManager">\([^<]*\)<.*/\1/p' <<<"$content")"
  [[ -n $session ]] || { log "smoke: no sessionManager in RetrieveServiceContent from $url"; return 1; }
  curl -fsS --max-time 10 --cacert "$ca" -H 'Content-Type: text/xml; charset=utf-8' --data-binary \
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">$session</_this><userName>$user</userName><password>$pass</password></Login></soapenv:Body></soapenv:Envelope>" \
    "$url/smoke" | grep -q '<LoginResponse' || { log "smoke: Login to $url refused"; return 1; }
  # Counts start from the tests, not from this check.
  curl -fsS --max-time 10 --cacert "$ca" -X POST "$ctl/calls/reset" >/dev/null
}

case "${1:-}" in
  start)
    mkdir -p "$state"
    chmod 700 "$state"
    bin="$(bash "$peer/build.sh")"
    start_one "$port" "$bin" -shutdown-delay 1s
    # Four VMs, like the vCenter model's four, so a suite can give each test file its own VM.
    start_one "$esx_port" "$bin" -esx -vm 4 -env-prefix VCSIM_ESX_ -shutdown-delay 1s
    smoke VCSIM_ "$state/$port.env" vpx
    smoke VCSIM_ESX_ "$state/$esx_port.env" esx
    log "smoke checks passed"
    grep -h '^export ' "$state/$port.env" "$state/$esx_port.env"
    ;;
  stop)
    stop_one "$port"
    stop_one "$esx_port"
    ;;
  *)
    echo "usage: $0 start|stop   (VSPHERE_TEST_PORT, VSPHERE_TEST_ESX_PORT, VSPHERE_TEST_PASSWORD)" >&2
    exit 2
    ;;
esac
