import { DriverFactory } from "../platform";

// STUB: replaced by the azure driver work.
export const createDriver: DriverFactory = () => {
    throw new Error("the azure driver is not implemented yet");
};
