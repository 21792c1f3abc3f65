#!/usr/bin/python3
"""materialize.py USER_DATA ROOT WORK: lays a #cloud-config's write_files out under ROOT, the way
cloud-init would write them on the guest, and prints what validate-user-data.sh should check,
one tab-separated line each:

    unit    GUEST_PATH  FILE  UNIT_NAME     a unit file: systemd-analyze verify --root=ROOT
    dropin  GUEST_PATH  FILE  UNIT_NAME     a drop-in of a unit the user-data does not write:
                                            verified on FILE, a stand-in unit with nothing else
    shell   GUEST_PATH  FILE  DIALECT       a sh/bash/dash script (or runcmd/bootcmd): shellcheck
    python  GUEST_PATH  FILE                a python3 program: must compile
    json    GUEST_PATH  FILE                a *.json file: must parse

ROOT is a merged-/usr tree with a copy of this host's unit directory, so default dependencies
(sysinit.target...) resolve, and an empty executable for every Exec*= program this host has:
systemd-analyze then reports only programs that exist nowhere (a hook path with a typo).
Runs with Debian's /usr/bin/python3: PyYAML is cloud-init's own parser.
"""
import base64
import gzip
import os
import re
import shlex
import shutil
import sys

import yaml

UNIT = re.compile(r"/systemd/(?:system|user)/([^/]+\.(?:service|socket|timer|target|path|mount|automount|swap|slice))$")
DROPIN = re.compile(r"/systemd/(?:system|user)/([^/]+\.(?:service|socket|timer|target|path|mount|automount|swap|slice))\.d/[^/]+\.conf$")
EXEC = re.compile(r"^\s*Exec(?:Start|StartPre|StartPost|Stop|StopPost|Reload|Condition)\s*=\s*(.+)$")
SHELLS = {"sh", "bash", "dash", "ksh"}


def inside(root, guest_path):
    return os.path.join(root, guest_path.lstrip("/"))


def decode(entry):
    data = entry.get("content", "")
    data = data.encode() if isinstance(data, str) else bytes(data)
    encoding = str(entry.get("encoding") or "text/plain").lower()
    if encoding in ("b64", "base64"):
        return base64.b64decode(data)
    if encoding in ("gz", "gzip"):
        return gzip.decompress(data)
    if encoding in ("gz+b64", "gz+base64", "gzip+b64", "gzip+base64"):
        return gzip.decompress(base64.b64decode(data))
    return data


def interpreter(data):
    match = re.match(rb"#!\s*(\S+)(?:[ \t]+(\S+))?", data)
    if not match:
        return None
    name = os.path.basename(match.group(1).decode())
    if name == "env" and match.group(2):
        name = os.path.basename(match.group(2).decode())
    return name


def stub_programs(root, unit_file):
    """An empty executable in ROOT for each Exec*= program that exists on this host."""
    with open(unit_file, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = EXEC.match(line)
            if not match:
                continue
            try:
                program = shlex.split(match.group(1).lstrip("@-:+!|"))[0]
            except (ValueError, IndexError):
                continue
            if not program.startswith("/"):
                program = shutil.which(program) or ""
            target = inside(root, program) if program else ""
            if not program or os.path.exists(target) or not os.access(program, os.X_OK):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "wb").close()
            os.chmod(target, 0o755)


def main():
    source, root, work = sys.argv[1:4]
    with open(source, "rb") as f:
        config = yaml.safe_load(f) or {}

    for directory in ("usr/bin", "usr/sbin", "usr/lib", "etc/systemd/system"):
        os.makedirs(inside(root, directory), exist_ok=True)
    for link in ("bin", "sbin", "lib"):
        os.symlink("usr/" + link, inside(root, link))
    host_units = os.path.realpath("/lib/systemd/system")
    if os.path.isdir(host_units):
        shutil.copytree(host_units, inside(root, "usr/lib/systemd/system"), symlinks=True)

    checks, units, dropins = [], set(), {}
    for entry in config.get("write_files") or []:
        path = entry["path"]
        data = decode(entry)
        target = inside(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "ab" if entry.get("append") else "wb") as f:
            f.write(data)
        os.chmod(target, int(str(entry.get("permissions", "0644")), 8))
        if UNIT.search(path):
            units.add(UNIT.search(path).group(1))
            checks.append(("unit", path, target, UNIT.search(path).group(1)))
        elif DROPIN.search(path):
            dropins.setdefault(DROPIN.search(path).group(1), []).append(path)
        program = interpreter(data)
        if program in SHELLS:
            checks.append(("shell", path, target, program))
        elif program and program.startswith("python3"):
            checks.append(("python", path, target))
        elif path.endswith(".json"):
            checks.append(("json", path, target))

    # A drop-in for a unit the guest has from elsewhere (a package, the image): give it a stand-in
    # unit with nothing else, so that systemd parses the drop-in's settings.
    for unit, paths in sorted(dropins.items()):
        if unit in units:
            continue  # verified with its unit
        stand_in = inside(root, "/etc/systemd/system/" + unit)
        with open(stand_in, "w", encoding="utf-8") as f:
            f.write("[Unit]\nDescription=stand-in for the drop-ins of %s\n" % unit)
            if unit.endswith(".service"):
                f.write("[Service]\nExecStart=/usr/bin/true\n")
        for path in paths:
            checks.append(("dropin", path, stand_in, unit))
    for check in checks:
        if check[0] in ("unit", "dropin"):
            stub_programs(root, check[2])

    # runcmd and bootcmd as cloud-init runs them: one /bin/sh script each, a list item's words quoted.
    for key in ("bootcmd", "runcmd"):
        items = config.get(key)
        if not items:
            continue
        lines = ["#!/bin/sh"] + [
            item if isinstance(item, str) else " ".join(shlex.quote(str(word)) for word in item) for item in items
        ]
        script = os.path.join(work, key + ".sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        checks.append(("shell", "(%s)" % key, script, "sh"))

    for check in checks:
        print("\t".join(check))


if __name__ == "__main__":
    main()
