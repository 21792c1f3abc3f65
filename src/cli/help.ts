import { platformNames } from "../drivers/platform";
import { observedPowerStates } from "../power/states";
import { exitCodes } from "./exitCodes";
import { flagName, legacyLibvirtFlags, targetFlagFields } from "./targetFlags";

/** One line per platform listing its flags; the libvirt shorthands first, as most examples use them. */
function targetFlagHelp(): string {
    const lines = [
        `  libvirt shorthands:     ${Object.keys(legacyLibvirtFlags)
            .map((f) => `--${f}`)
            .join(", ")}`,
    ];
    for (const [platform, fields] of Object.entries(targetFlagFields)) {
        const flags = Object.entries(fields).map(([field, type]) => `--${flagName(platform, field, type)}`);
        lines.push(`  ${`${platform}:`.padEnd(24)}${flags.join(", ")}`);
    }
    return lines.join("\n");
}

export const helpText = `graceful-vm: power a VM on or off, gracefully, with a hard fallback.

Usage:
  graceful-vm status [target]            print the VM's power state
  graceful-vm on     [target]            power on (or resume)
  graceful-vm off    [target] --graceful ask the guest to shut down; power off hard only after --timeout
  graceful-vm off    [target]            power off hard at once (same as --hard)
  graceful-vm restart [target]           graceful shutdown (hard after --timeout), then power on
  graceful-vm <command> --fleet FILE     the same for many VMs, in tiers (see Fleets)

Target (a config file, flags, or environment variables; flags win over the file, the file over
the environment):
  --config FILE           JSON or YAML: { target: { <platform>: {...} }, gracefulShutdownTimeout, ... }
                          platforms: ${platformNames.join(", ")}
${targetFlagHelp()}
  Every flag has a variable: --vsphere-url is GRACEFUL_VM_VSPHERE_URL, --proxmox-vm-id is
  GRACEFUL_VM_PROXMOX_VM_ID (a platform's variables apply when nothing else names a platform,
  or to the platform the flags or file name).
  Secrets come from the config file or from GRACEFUL_VM_<FIELD> environment variables
  (GRACEFUL_VM_PASSWORD, GRACEFUL_VM_API_TOKEN, GRACEFUL_VM_CLIENT_SECRET, GRACEFUL_VM_OIDC_TOKEN),
  never from flags.

Power options:
  --graceful              off: ask the guest first (ACPI, guest agent, VMware Tools, ...)
  --hard                  off: power off without asking the guest
  --deallocate            off: deallocate (Azure), stopping the guest gracefully first
  --timeout DURATION      how long the guest gets to shut down: 90s, 2m, 1m30s (default 60s)
  --verify-timeout DURATION  how long a hard power-off, power-on or deallocation may take to show (default 2m)
  --call-timeout DURATION    the most one platform call may take, TLS handshake included (default 20s)
  --no-force              never power off hard: fail (exit 1) if the guest does not stop in time
  --wait-for-agent        on: also wait until the guest agent answers

Fleets (docs/fleets.md):
  --fleet FILE            YAML/JSON: { tiers: [{ name, vms: [{ name, target, ... }] }], defaults, concurrency }
                          tiers in start order: "on" runs tier 0 first, "off" the last tier first,
                          "restart" rolls tier by tier from tier 0
  --concurrency N         VMs changed at once (default: the file's, else 1)
  --per-endpoint N        VMs changed at once per vCenter / Proxmox / libvirt host / Azure subscription
  --on-failure halt|continue  after a VM fails: leave later tiers alone (default) or go on
  --dry-run               read each VM's state and print the plan; change nothing
  --progress json         JSON lines on stderr: each VM's phase changes, tiers, a heartbeat every 10 s

Status:
  --expect STATE[,STATE]  status: exit 0 when the VM is in one of these states, 1 otherwise
                          (${observedPowerStates.join(", ")})

Output:
  --json                  the full report as JSON on stdout, errors too (default: one line for humans)
  --quiet                 no progress on stderr
  -h, --help              this help
  --version               the package version

Exit codes:
  ${exitCodes.ok}  done gracefully, powered on, or nothing to do
  ${exitCodes.forced}  off --graceful/--deallocate done, but only by a hard power-off (graceful timed out
     or was impossible); an explicit off/--hard that powered off exits ${exitCodes.ok}
     someone else powered the VM off hard during the wait: method "externalOff", also exit ${exitCodes.forced})
  ${exitCodes.failure}  failed: the VM is not in the requested state, or the platform failed
     (fleet: 1 if any VM failed, else 3 if any was forced, else 0)
  ${exitCodes.usage}  usage error: bad flags, config file or target field; nothing was touched
  ${exitCodes.interrupted}/${exitCodes.terminated}  interrupted by SIGINT/SIGTERM; --json still prints the report so far

Examples:
  graceful-vm status --domain web-1
  graceful-vm off --graceful --timeout 2m --domain web-1 --json
  graceful-vm off --graceful --timeout 30s --libvirt-uri qemu+ssh://admin@kvm-1/system --domain web-1
  graceful-vm on --domain web-1 --wait-for-agent
  graceful-vm status --vsphere-url https://vc/sdk --vsphere-username svc --vsphere-vm web-1 --expect stopped
  GRACEFUL_VM_PROXMOX_ENDPOINT=https://pve:8006 GRACEFUL_VM_PROXMOX_NODE=pve1 GRACEFUL_VM_PROXMOX_VM_ID=105 \
    GRACEFUL_VM_API_TOKEN=... graceful-vm off --graceful
  GRACEFUL_VM_PASSWORD=... graceful-vm off --graceful --config vsphere-web-1.yaml
  graceful-vm off --graceful --no-force --timeout 5m --config target.yaml || echo "web-1 did not stop cleanly"
  graceful-vm off --graceful --fleet fleet.yaml --concurrency 10 --json --progress json
  graceful-vm restart --fleet fleet.yaml --concurrency 1 --wait-for-agent
`;
