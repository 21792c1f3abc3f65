import { localVm } from "./program";

// A libvirt domain on this host with a declarative power state (see README.md).
const vm = localVm();

/** What libvirt reports after this `up` (or `refresh`): running, stopped, paused. */
export const observedPowerState = vm.observedPowerState;
/** The last change: method (graceful/forced), `gracefulMethod` (acpi/agent), libvirt's reason, timings. */
export const lastTransition = vm.lastTransition;
