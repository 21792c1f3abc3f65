import { describeWithPeer } from "../helpers/peers";
import { LibvirtContractHost, libvirtContractVariables, libvirtPlatform, libvirtSshContractVariables } from "./libvirtPlatform";
import { describeContract } from "./runner";

// The libvirt family of the driver contract suite (libvirtPlatform.ts): the table over the local
// socket, then over qemu+ssh through the peer's SSH front and our fault proxy. Its own file, so
// that jest runs it beside the contract servers' (contract.test.ts).
describeWithPeer("driver contract (libvirt peer)", "libvirt", libvirtContractVariables, (peer) => {
    const host = new LibvirtContractHost(peer);
    beforeAll(() => host.setup(), 240_000);
    afterAll(() => host.teardown(), 60_000);
    describeContract(libvirtPlatform(host));
    describeWithPeer("over qemu+ssh (libvirt-ssh peer)", "libvirt-ssh", libvirtSshContractVariables, (ssh) => {
        describeContract(libvirtPlatform(host, { ssh }));
    });
});
