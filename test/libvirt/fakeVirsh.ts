import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A domain of the fake virsh (fixtures/fake-virsh.js). */
export interface FakeDomain {
    state: "running" | "shut off" | "paused";
    reason: string;
    guest: "graceful" | "hung";
    agent: boolean;
    shutdownDelayMs: number;
    /** `destroy` finds the guest just finished its own shutdown ("domain is not running"). */
    finishesAtDestroy?: boolean;
    /** `domstate` never answers (a hung daemon). */
    hangDomstate?: boolean;
}

/** The test's side of the fake virsh: its state file, and the env that points the driver at it. */
export class FakeVirsh {
    readonly binary = path.join(__dirname, "fixtures", "fake-virsh.js");
    readonly stateFile: string;

    constructor(domains: Record<string, FakeDomain>) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-fake-virsh-"));
        this.stateFile = path.join(dir, "state.json");
        fs.writeFileSync(this.stateFile, JSON.stringify({ domains, journal: [] }));
    }

    /** Points every virsh call of this process at the fake. */
    install(): void {
        process.env.GRACEFUL_VM_VIRSH = this.binary;
        process.env.FAKE_VIRSH_STATE = this.stateFile;
    }

    journal(): string[] {
        return (JSON.parse(fs.readFileSync(this.stateFile, "utf8")) as { journal: string[] }).journal;
    }

    remove(): void {
        fs.rmSync(path.dirname(this.stateFile), { recursive: true, force: true });
    }
}
