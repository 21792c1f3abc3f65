#!/usr/bin/python3
"""materialize.py WORK USER_DATA...: the python side of validate-user-data.sh, in one process (on
a busy machine, starting python and cloud-init's schema once per file costs seconds each).

For each USER_DATA (numbered N from 1) it checks cloud-init's schema and, when that passes, lays
the file's write_files out under WORK/N/root the way cloud-init would write them on the guest. It
prints what validate-user-data.sh should check, one tab-separated line each:

    schema  USER_DATA  ok|fail  MESSAGE
    unit    USER_DATA  GUEST_PATH  FILE  UNIT_NAME  ROOT   a unit: systemd-analyze verify --root=ROOT
    dropin  USER_DATA  GUEST_PATH  FILE  UNIT_NAME  ROOT   a drop-in of a unit the user-data does not
                                                           write: verified on FILE, a stand-in unit
    shell   USER_DATA  GUEST_PATH  FILE  DIALECT    -      a sh/bash/dash script, runcmd, bootcmd
    python  USER_DATA  GUEST_PATH  FILE  -          -      a python3 program: must compile
    json    USER_DATA  GUEST_PATH  FILE  -          -      a *.json file: must parse

ROOT is a merged-/usr tree with this host's unit directory (hard links to a copy made once), so
default dependencies (sysinit.target...) resolve, and an empty executable for every Exec*=
program this host has: systemd-analyze then reports only programs that exist nowhere (a hook
path with a typo). Runs with Debian's /usr/bin/python3: cloud-init's own modules and PyYAML.
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


def base_root(work):
    """A root with the host's unit files, made once; each file's root hard-links it."""
    base = os.path.join(work, "base")
    for directory in ("usr/bin", "usr/sbin", "usr/lib", "etc/systemd/system"):
        os.makedirs(inside(base, directory), exist_ok=True)
    for link in ("bin", "sbin", "lib"):
        os.symlink("usr/" + link, inside(base, link))
    host_units = os.path.realpath("/lib/systemd/system")
    if os.path.isdir(host_units):
        shutil.copytree(host_units, inside(base, "usr/lib/systemd/system"), symlinks=True)
    return base


def write(target, data, append):
    # The root's files may be hard links shared with the base: replace, never write through.
    previous = b""
    if os.path.lexists(target):
        if append and os.path.isfile(target):
            with open(target, "rb") as f:
                previous = f.read()
        os.remove(target)
    with open(target, "wb") as f:
        f.write(previous + data)


def lay_out(source, config, root, work):
    checks, units, dropins = [], set(), {}
    for entry in config.get("write_files") or []:
        path = entry["path"]
        data = decode(entry)
        target = inside(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write(target, data, entry.get("append"))
        os.chmod(target, int(str(entry.get("permissions", "0644")), 8))
        unit, dropin = UNIT.search(path), DROPIN.search(path)
        if unit:
            units.add(unit.group(1))
            checks.append(("unit", path, target, unit.group(1)))
        elif dropin:
            dropins.setdefault(dropin.group(1), []).append(path)
        program = interpreter(data)
        if program in SHELLS:
            checks.append(("shell", path, target, program))
        elif program and program.startswith("python3"):
            checks.append(("python", path, target, "-"))
        elif path.endswith(".json"):
            checks.append(("json", path, target, "-"))

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

    for kind, label, path, extra in checks:
        print("\t".join((kind, source, label, path, extra, root if kind in ("unit", "dropin") else "-")))


def one_line(text):
    return " ".join(str(text).split())


def main():
    from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file

    work, sources = sys.argv[1], sys.argv[2:]
    schema = get_schema()
    base = None
    for number, source in enumerate(sources, start=1):
        try:
            validate_cloudconfig_file(source, schema)
        except (SchemaValidationError, RuntimeError) as e:
            # Nothing else is meaningful for a file cloud-init rejects.
            print("\t".join(("schema", source, "fail", one_line(e))))
            continue
        print("\t".join(("schema", source, "ok", "")))
        with open(source, "rb") as f:
            config = yaml.safe_load(f) or {}
        base = base or base_root(work)
        root = os.path.join(work, str(number), "root")
        shutil.copytree(base, root, symlinks=True, copy_function=os.link)
        lay_out(source, config, root, os.path.join(work, str(number)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
