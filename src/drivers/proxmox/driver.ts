import { DriverFactory } from "../platform";

// STUB: replaced by the proxmox driver work.
export const createDriver: DriverFactory = () => {
    throw new Error("the proxmox driver is not implemented yet");
};
