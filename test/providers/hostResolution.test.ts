import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { vmPowerProvider } from "../../src/providers/provider";
import { HostCallError, providerPb, serializeProvider, startHost, toStruct } from "../harness";

/**
 * The serialized provider requires `pulumi-graceful-vm/provider-runtime` from the host's working directory
 * (the Pulumi project's `main` folder). Where that cannot resolve (pnpm with the package only a transitive
 * dependency, a project folder without node_modules), the error says where it looked and what to do.
 */
describe("where the provider host finds the runtime", () => {
    test("a project folder without the package: the error names the folder and the fix", async () => {
        const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-no-modules-"));
        const host = await startHost({ cwd });
        try {
            const { text } = await serializeProvider(vmPowerProvider);
            const req = new providerPb.CheckRequest();
            req.setUrn("urn:pulumi:stack::project::pulumi-nodejs:dynamic/graceful-vm:VmPower::web-power");
            req.setOlds(toStruct({}));
            req.setNews(toStruct({ __provider: text, platform: "custom", target: { module: "/opt/d.js" } }));
            const error = (await host.call("check", req).catch((e: unknown) => e)) as HostCallError;
            expect(error.details).toContain(`cannot load "pulumi-graceful-vm/provider-runtime" from ${fs.realpathSync(cwd)}`);
            expect(error.details).toContain("npm install pulumi-graceful-vm");
            expect(error.details).toContain("public-hoist-pattern[]=pulumi-graceful-vm");
            expect(error.details).toContain("nodeLinker: node-modules");
        } finally {
            await host.close();
            fs.rmSync(cwd, { recursive: true, force: true });
        }
    });
});
