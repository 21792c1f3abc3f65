import { DriverFactory } from "../platform";

// STUB: replaced by the libvirt driver work.
export const createDriver: DriverFactory = () => {
    throw new Error("the libvirt driver is not implemented yet");
};
