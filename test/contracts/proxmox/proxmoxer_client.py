#!/usr/bin/python3
"""Drives the Proxmox contract server with Debian's python3-proxmoxer, the way its users call it.

Reads a JSON object on stdin: {"host", "port", "user", "token_name", "token_value", "ca",
"operations": [...]}, runs each operation through proxmoxer's own resource API, and prints one
JSON list of results: {"op", "ok": true, "data"} or {"op", "ok": false, "status", "message",
"reason", "errors"} as proxmoxer's ResourceException carries them. Power actions wait for their
task the way proxmoxer users do (poll tasks/{upid}/status) and add the task's status and log.
"""
import json
import sys
import time

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException


def run(api, operation):
    op = operation["op"]
    node = operation.get("node")
    vmid = operation.get("vmid")
    params = operation.get("params", {})
    if op == "version":
        return api.version.get()
    if op == "resources":
        return api.cluster.resources.get(**params)
    if op == "vmlist":
        return api.nodes(node).qemu.get(**params)
    if op == "current":
        return api.nodes(node).qemu(vmid).status.current.get()
    if op == "ping":
        return api.nodes(node).qemu(vmid).agent.ping.post()
    if op == "action":
        upid = api.nodes(node).qemu(vmid).status(operation["action"]).post(**params)
        task_node = upid.split(":")[1]
        deadline = time.monotonic() + operation.get("wait", 30)
        while True:
            status = api.nodes(task_node).tasks(upid).status.get()
            if status["status"] == "stopped" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        log = api.nodes(task_node).tasks(upid).log.get(start=0, limit=50)
        return {"upid": upid, "status": status, "log": [line["t"] for line in log]}
    raise ValueError("unknown operation %r" % op)


def main():
    plan = json.load(sys.stdin)
    api = ProxmoxAPI(
        "%s:%d" % (plan["host"], plan["port"]),
        user=plan["user"],
        token_name=plan["token_name"],
        token_value=plan["token_value"],
        verify_ssl=plan["ca"],
    )
    results = []
    for operation in plan["operations"]:
        try:
            results.append({"op": operation["op"], "ok": True, "data": run(api, operation)})
        except ResourceException as e:
            errors = e.errors.decode("utf-8", "replace") if isinstance(e.errors, bytes) else e.errors
            results.append(
                {
                    "op": operation["op"],
                    "ok": False,
                    "status": e.status_code,
                    "message": e.status_message,
                    "reason": e.content,
                    "errors": errors,
                }
            )
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
