export { ProxmoxContractServer } from "./server";
export type { ApiToken, ContractServerOptions, RequestRecord } from "./server";
export { SimulatedVm, SimulatedTask } from "./model";
export type { GuestBehaviour, VmOptions } from "./model";
export { makeSelfSignedCertificate } from "./cert";
