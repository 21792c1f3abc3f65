import { platformNames } from "../drivers/platform";
import { exitCodes } from "./exitCodes";

export const helpText = `graceful-vm: power a VM on or off, gracefully, with a hard fallback.

Usage:
  graceful-vm status [target]            print the VM's power state
  graceful-vm on     [target]            power on (or resume)
  graceful-vm off    [target] --graceful ask the guest to shut down; power off hard only after --timeout
  graceful-vm off    [target]            power off hard at once (same as --hard)

Target (a config file, or flags for libvirt):
  --config FILE           JSON or YAML: { target: { <platform>: {...} }, gracefulShutdownTimeout, ... }
                          platforms: ${platformNames.join(", ")}
  --libvirt-uri URI       libvirt connection URI (default qemu:///system)
  --domain NAME           libvirt domain name or UUID
  --shutdown-mode MODE    libvirt: auto (agent if it answers, else ACPI), acpi, agent
  Secrets come from the config file or from GRACEFUL_VM_<FIELD> environment variables
  (GRACEFUL_VM_PASSWORD, GRACEFUL_VM_API_TOKEN, GRACEFUL_VM_CLIENT_SECRET), never from flags.

Power options:
  --graceful              off: ask the guest first (ACPI, guest agent, VMware Tools, ...)
  --hard                  off: power off without asking the guest
  --deallocate            off: deallocate (Azure), stopping the guest gracefully first
  --timeout DURATION      how long the guest gets to shut down: 90s, 2m, 1m30s (default 60s)
  --no-force              never power off hard: fail (exit 1) if the guest does not stop in time
  --wait-for-agent        on: also wait until the guest agent answers

Output:
  --json                  the full report as JSON on stdout (default: one line for humans)
  --quiet                 no progress on stderr
  -h, --help              this help
  --version               the package version

Exit codes:
  ${exitCodes.ok}  done gracefully, powered on, or nothing to do
  ${exitCodes.forced}  done, but only by a hard power-off (graceful timed out or was impossible)
  ${exitCodes.failure}  failed: the VM is not in the requested state, or the platform failed
  ${exitCodes.usage}  usage error: bad flags, config file or target field; nothing was touched

Examples:
  graceful-vm status --domain web-1
  graceful-vm off --graceful --timeout 2m --domain web-1 --json
  graceful-vm off --graceful --timeout 30s --libvirt-uri qemu+ssh://admin@kvm-1/system --domain web-1
  graceful-vm on --domain web-1 --wait-for-agent
  GRACEFUL_VM_PASSWORD=... graceful-vm off --graceful --config vsphere-web-1.yaml
  graceful-vm off --graceful --no-force --timeout 5m --config target.yaml || echo "web-1 did not stop cleanly"
`;
