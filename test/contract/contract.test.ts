import { azure, proxmox } from "./platforms";
import { describeContract } from "./runner";
import { vsphere, vsphereEsx } from "./vspherePlatform";

// The contract servers and vSphere's vcsim peer, in one file; the libvirt peer has files of its
// own (libvirt.test.ts, libvirtSsh.test.ts), so that jest runs them beside these.
describeContract(proxmox);
describeContract(azure);
describeContract(vsphere);
describeContract(vsphereEsx);
