import { describeWithPeer } from "../helpers/peers";
import { LibvirtContractHost, libvirtContractVariables, libvirtPlatform } from "./libvirtPlatform";
import { describeContract } from "./runner";

// The libvirt family of the driver contract suite (libvirtPlatform.ts) over the local socket;
// libvirtSsh.test.ts runs it over qemu+ssh. Files of their own, so that jest runs them beside
// each other and beside the contract servers' (contract.test.ts).
describeWithPeer("driver contract (libvirt peer)", "libvirt", libvirtContractVariables, (peer) => {
    const host = new LibvirtContractHost(peer, "local");
    beforeAll(() => host.setup(), 240_000);
    afterAll(() => host.teardown(), 60_000);
    describeContract(libvirtPlatform(host));
});
