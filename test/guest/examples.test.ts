import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { guestExamples } from "../../examples/guest/hooks";
import { renderGuestUserData } from "../../src/guest/render";
import { parseDuration } from "../../src/power/duration";
import { valueOf } from "../components/mocks";
import { describeWithPeer } from "../helpers/peers";
import { parseUserData, runValidator, tempDir } from "./helpers";

/**
 * The examples stay true: examples/guest/rendered/*.yaml is exactly what the hooks in
 * examples/guest/hooks.ts render to, every rendered example passes the validators, and every
 * example program's preStop/lifecycle arguments validate (the program runs under Pulumi's mocks,
 * where GracefulVm throws on a bad hook or a budget that cannot fit).
 */
const root = path.resolve(__dirname, "../..");
const renderedDir = path.join(root, "examples/guest/rendered");

function renderExample(name: string): string {
    const example = guestExamples[name];
    return renderGuestUserData(example.preStop, example.lifecycle, {
        platform: "libvirt",
        gracefulTimeoutMs: parseDuration(example.gracefulShutdownTimeout, "gracefulShutdownTimeout"),
    }).userData;
}

/** Every `#cloud-config` file under examples/. */
function cloudConfigExamples(): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory() && entry.name !== "node_modules") walk(full);
            else if (/\.(ya?ml|cfg|txt)$/.test(entry.name) && fs.readFileSync(full, "utf8").startsWith("#cloud-config")) found.push(full);
        }
    };
    walk(path.join(root, "examples"));
    return found.sort();
}

/** Example programs that give GracefulVm (or a helper built on it) preStop or lifecycle arguments. */
function programsWithHooks(): string[] {
    return fs
        .readdirSync(path.join(root, "examples"), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => path.join(root, "examples", e.name, "index.ts"))
        .filter((file) => fs.existsSync(file) && /\b(preStop|lifecycle)\b/.test(fs.readFileSync(file, "utf8")));
}

describe("examples/guest", () => {
    test.each(Object.keys(guestExamples))("rendered/%s.yaml is what its hooks render to", (name) => {
        const file = path.join(renderedDir, `${name}.yaml`);
        const expected = renderExample(name);
        if (process.env.UPDATE_GUEST_EXAMPLES === "1") fs.writeFileSync(file, expected);
        expect(
            fs.existsSync(file) ? fs.readFileSync(file, "utf8") : `(missing ${file}: UPDATE_GUEST_EXAMPLES=1 npx jest test/guest/examples)`,
        ).toBe(expected);
        expect(Object.keys(parseUserData(expected))).toEqual(expect.arrayContaining(["write_files", "packages"]));
    });

    test("there is a rendered example per hook kind", () => {
        const kinds = new Set(
            Object.values(guestExamples).flatMap((e) => e.preStop.map((h) => (h.exec ? "exec" : h.drain ? "drain" : "httpGet"))),
        );
        expect([...kinds].sort()).toEqual(["drain", "exec", "httpGet"]);
    });
});

describe("example programs: preStop and lifecycle arguments validate", () => {
    const programs = programsWithHooks();

    test("the guest example is among them", () => {
        expect(programs).toContain(path.join(root, "examples/guest/index.ts"));
    });

    test.each(programs.map((p) => [path.relative(root, p)]))("%s", async (program) => {
        const captured = await runProgramUnderMocks(path.join(root, program));
        expect(captured.length).toBeGreaterThan(0);
        for (const userData of captured) expect(parseUserData(userData).write_files?.length).toBeGreaterThan(0);
        programUserData.push(...captured.map((userData, i) => ({ name: `${program.replace(/[/.]/g, "_")}-${i}`, userData })));
    });
});

const programUserData: Array<{ name: string; userData: string }> = [];

describeWithPeer("examples pass the validators", "validators", ["GUEST_VALIDATOR"], (env) => {
    test("every #cloud-config under examples/ and every example program's rendered user-data", () => {
        const dir = tempDir("examples");
        const fromPrograms = programUserData.map(({ name, userData }) => {
            const file = path.join(dir, `${name}.yaml`);
            fs.writeFileSync(file, userData);
            return file;
        });
        const files = [...cloudConfigExamples(), ...fromPrograms];
        expect(files.length).toBeGreaterThanOrEqual(Object.keys(guestExamples).length);
        const result = runValidator(env.GUEST_VALIDATOR, files);
        expect(result.output).not.toMatch(/^FAIL/m);
        expect(result.ok).toBe(true);
        expect(result.failed).toBe(0);
    }, 120_000);
});

/**
 * Runs an example program under Pulumi's mocks and returns the user-data each GracefulVm in it
 * rendered. Programs import the compiled package (`pulumi-graceful-vm` → lib/), so its
 * `guestUserData` is wrapped to see what they render. Config the program requires gets a
 * placeholder.
 */
async function runProgramUnderMocks(program: string): Promise<string[]> {
    const captured: Array<pulumi.Output<string>> = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: mockId(args), state: { ...args.inputs, observedPowerState: "running" } }),
            call: (args) => args.inputs,
        },
        "example",
        "dev",
        false,
    );
    const project = "example";
    for (const match of fs.readFileSync(program, "utf8").matchAll(/\.require(Secret|Number|Boolean|Object)?\(\s*["'`]([^"'`]+)["'`]/g)) {
        const placeholder = match[1] === "Number" ? "1" : match[1] === "Boolean" ? "true" : match[1] === "Object" ? "{}" : "example";
        pulumi.runtime.setConfig(match[2].includes(":") ? match[2] : `${project}:${match[2]}`, placeholder);
    }
    const userDataModule = require(path.join(root, "lib/components/userData")) as {
        guestUserData: (...args: unknown[]) => pulumi.Output<string> | undefined;
    };
    const original = userDataModule.guestUserData;
    userDataModule.guestUserData = (...args: unknown[]) => {
        const output = original(...args);
        if (output) captured.push(output);
        return output;
    };
    try {
        require(program);
        // A program failing inside an apply never resolves its outputs: fail with its name instead.
        const values = await withTimeout(Promise.all(captured.map((o) => valueOf(o))), 20_000, `${program} did not render its user-data`);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook, as in test/components/mocks.ts
        await (pulumi.runtime as any).waitForRPCs?.();
        return values;
    } finally {
        userDataModule.guestUserData = original;
    }
}

/** Ids shaped like the real ones where a helper parses them (an Azure VM's resource id). */
function mockId(args: pulumi.runtime.MockResourceArgs): string {
    if (args.type === "azure-native:compute:VirtualMachine") {
        return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/example/providers/Microsoft.Compute/virtualMachines/${args.name}`;
    }
    return `${args.name}-id`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
