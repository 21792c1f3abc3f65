#!/usr/bin/env bash
# validate-user-data.sh FILE...
#
# Checks rendered #cloud-config user-data offline, with the tools a Debian 12 guest has:
#   cloud-init schema       cloud-init 22.4's schema (exit 1 on errors)
#   systemd-analyze verify  every unit in write_files, in a root laid out from write_files
#                           (materialize.py, which also runs the schema check); drop-ins of units the user-data does not write are
#                           verified on a stand-in unit. systemd only WARNS about a bad setting
#                           (exit 0), so any output counts as a failure.
#   ShellCheck              every written sh/bash/dash script, and runcmd/bootcmd as the one
#                           /bin/sh script cloud-init makes of each
#   python3 compile         every written python3 program
#   json                    every written *.json file
# Prints `ok   - FILE: CHECK` or `FAIL - FILE: CHECK` with the tool's words indented, then
# `N passed, N failed`; exit 1 when a check failed, 2 on bad usage or a missing tool.
#   SHELLCHECK_SEVERITY   style (default) | info | warning | error
#   SHELLCHECK_EXCLUDE    default SC1091 (a file the script sources in the guest is not here)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3 # Debian's: it has PyYAML; a python3 earlier on PATH may not

for tool in cloud-init systemd-analyze shellcheck "$python"; do
    command -v "$tool" >/dev/null || { echo "validate-user-data.sh: $tool is missing: run install.sh" >&2; exit 2; }
done
[ $# -gt 0 ] || { echo "usage: validate-user-data.sh USER_DATA_FILE..." >&2; exit 2; }

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { # LABEL OUTPUT
    failed=$((failed + 1))
    echo "FAIL - $1"
    # shellcheck disable=SC2001 # indent every line of a multi-line text
    [ -z "$2" ] || sed 's/^/    /' <<<"$2"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every file's schema and layout in one python process; then one line per check, in file order.
if ! checks=$("$python" "$here/materialize.py" "$work" "$@" 2>"$work/materialize.err"); then
    fail "materialize.py: could not lay out the files" "$checks$(cat "$work/materialize.err")"
fi
n=0
# extra: a shell script's dialect, or a unit's name
while IFS=$'\t' read -r kind file label path extra root; do
    case $kind in
    schema)
        if [ "$label" = ok ]; then pass "$file: cloud-init schema"; else fail "$file: cloud-init schema" "$path"; fi
        ;;
    unit | dropin)
        # verify reads `FILE:NAME` as "FILE under the name NAME", so a unit whose name has a ':'
        # (valid in systemd) is given as a copy under a plain file name with its own name.
        target=$path
        if [[ $extra == *:* ]]; then
            n=$((n + 1))
            cp "$path" "$work/unit-$n.${extra##*.}"
            target=$work/unit-$n.${extra##*.}:$extra
        fi
        out=$(systemd-analyze verify --man=no --root="$root" "$target" 2>&1)
        rc=$?
        out=${out//"$root"/}
        if [ $rc = 0 ] && [ -z "$out" ]; then pass "$file: systemd-analyze verify $label"; else fail "$file: systemd-analyze verify $label (exit $rc)" "$out"; fi
        ;;
    shell)
        if out=$(shellcheck -s "$extra" -S "${SHELLCHECK_SEVERITY:-style}" -e "${SHELLCHECK_EXCLUDE:-SC1091}" -f gcc "$path" 2>&1); then
            pass "$file: shellcheck $label"
        else
            fail "$file: shellcheck $label" "${out//"$path"/"$label"}"
        fi
        ;;
    python)
        if out=$("$python" - "$path" "$label" 2>&1 <<'PY'
import sys
try:
    compile(open(sys.argv[1], "rb").read(), sys.argv[2], "exec")
except SyntaxError as e:
    sys.exit("%s:%s: %s" % (sys.argv[2], e.lineno, e.msg))
PY
        ); then
            pass "$file: python3 compile $label"
        else
            fail "$file: python3 compile $label" "$out"
        fi
        ;;
    json)
        if out=$("$python" -m json.tool "$path" 2>&1 >/dev/null); then pass "$file: json $label"; else fail "$file: json $label" "$out"; fi
        ;;
    esac
done <<<"$checks"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
