import { describeWithPeer } from "../helpers/peers";
import { LibvirtContractHost, libvirtContractVariables, libvirtPlatform, libvirtSshContractVariables } from "./libvirtPlatform";
import { describeContract } from "./runner";

// The libvirt family of the driver contract suite over qemu+ssh: the peer's sshd, our fault
// proxy on the TCP in front of it. Under the libvirt peer too: real guests run in one CI lane.
describeWithPeer("driver contract (libvirt peer)", "libvirt", libvirtContractVariables, () => {
    describeWithPeer("over qemu+ssh (libvirt-ssh peer)", "libvirt-ssh", libvirtSshContractVariables, (peer) => {
        const host = new LibvirtContractHost(peer, "ssh");
        beforeAll(() => host.setup(), 240_000);
        afterAll(() => host.teardown(), 60_000);
        describeContract(libvirtPlatform(host, { ssh: peer }));
    });
});
