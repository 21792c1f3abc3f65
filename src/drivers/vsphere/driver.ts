import { DriverFactory } from "../platform";

// STUB: replaced by the vsphere driver work.
export const createDriver: DriverFactory = () => {
    throw new Error("the vsphere driver is not implemented yet");
};
