/**
 * Spawns the REAL Pulumi dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`, the plugin the
 * engine launches as `pulumi-resource-pulumi-nodejs`) and talks to it over gRPC.
 *
 * See shared/notes/pulumi-testing.md section 2: the engine address argument is never dialled, the host
 * prints its port as the first stdout line, and Configure must be called before any CRUD call.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";

// The generated protobuf modules ship without useful typings; they are used through `any` here only.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const providerRpc: any = require("@pulumi/pulumi/proto/provider_grpc_pb");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const providerPb: any = require("@pulumi/pulumi/proto/provider_pb");
// Struct must come from the google-protobuf copy the generated code uses: @pulumi/pulumi 3.248.0 nests
// google-protobuf 3.21.4 while the repository root has 4.x, and the two do not mix.
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const structPb: any = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [pulumiDir] }));

/** A google.protobuf.Struct from the generated code's google-protobuf (opaque here). */
export interface ProtoStruct {
    toJavaScript(): unknown;
}

/** Repository root (the directory holding node_modules); the host resolves captured modules from here. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** The ResourceProvider RPCs a test may call (lower camel case, as the generated client names them). */
export type HostMethod =
    | "getPluginInfo"
    | "checkConfig"
    | "diffConfig"
    | "configure"
    | "check"
    | "diff"
    | "create"
    | "read"
    | "update"
    | "delete"
    | "cancel"
    | "invoke";

/** A gRPC error as the client reports it. */
export interface HostCallError extends Error {
    code?: number;
    details?: string;
}

export interface StartHostOptions {
    /** Project name the host reports to providers (PULUMI_NODEJS_PROJECT). Default "project". */
    project?: string;
    /** Host working directory. Default: the repository root. */
    cwd?: string;
    /** Config passed to Configure, keys fully qualified ("proj:key"). */
    config?: Record<string, string>;
    /** Extra environment for the host process. */
    env?: Record<string, string>;
    /** Milliseconds to wait for the port line. Default 20 s. */
    startTimeoutMs?: number;
}

export interface Host {
    /** The port the host listens on. */
    readonly port: number;
    /** Milliseconds from spawn to the port line. */
    readonly startMs: number;
    /** The host's process id (the engine starts one host per operation). */
    readonly pid: number;
    /** Calls one RPC. Requests and responses are generated protobuf objects (`providerPb.*`). */
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    call(method: HostMethod, request: unknown): Promise<any>;
    /** Everything the host wrote to stdout and stderr so far (the port line excluded). */
    logs(): string;
    /** Closes the client, kills the host and waits for it to exit. */
    close(): Promise<void>;
    /** Kills the host at once (SIGKILL), as when `pulumi up` is interrupted hard; calls in flight fail. */
    kill(): Promise<void>;
}

/** Converts a JS object to a protobuf Struct, dropping `undefined` values the way the engine does. */
export function toStruct(obj: Record<string, unknown>): ProtoStruct {
    return structPb.Struct.fromJavaScript(JSON.parse(JSON.stringify(obj)));
}

/** Converts a protobuf Struct (or undefined) to a plain object. */
export function fromStruct(s: ProtoStruct | undefined): Record<string, unknown> {
    return s ? (s.toJavaScript() as Record<string, unknown>) : {};
}

function waitExit(proc: ChildProcess): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) {
        return Promise.resolve();
    }
    return new Promise((resolve) => proc.once("exit", () => resolve()));
}

export async function startHost(options: StartHostOptions = {}): Promise<Host> {
    const script = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
    const started = Date.now();
    const proc = spawn(process.execPath, [script, "127.0.0.1:1"], {
        cwd: options.cwd ?? REPO_ROOT,
        env: { ...process.env, PULUMI_NODEJS_PROJECT: options.project ?? "project", ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    let portLine: string | undefined;
    let stdoutBuf = "";

    const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
            reject(new Error(`dynamic-provider host did not print its port in time; output:\n${log}`));
        }, options.startTimeoutMs ?? 20_000);
        proc.stdout!.setEncoding("utf8");
        proc.stderr!.setEncoding("utf8");
        proc.stdout!.on("data", (chunk: string) => {
            if (portLine !== undefined) {
                log += chunk;
                return;
            }
            stdoutBuf += chunk;
            const nl = stdoutBuf.indexOf("\n");
            if (nl >= 0) {
                portLine = stdoutBuf.slice(0, nl).trim();
                log += stdoutBuf.slice(nl + 1);
                clearTimeout(timer);
                const n = Number(portLine);
                if (Number.isInteger(n) && n > 0) {
                    resolve(n);
                } else {
                    reject(new Error(`unexpected first line from host: ${JSON.stringify(portLine)}`));
                }
            }
        });
        proc.stderr!.on("data", (chunk: string) => {
            log += chunk;
        });
        proc.once("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
        proc.once("exit", (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`dynamic-provider host exited early (code ${code}, signal ${signal}); output:\n${log}`));
        });
    });
    const startMs = Date.now() - started;

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const client: any = new providerRpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const call = (method: HostMethod, request: unknown): Promise<any> =>
        new Promise((resolve, reject) => {
            const fn = client[method];
            if (typeof fn !== "function") {
                reject(new Error(`unknown host method ${method}`));
                return;
            }
            // eslint-disable-next-line @typescript-eslint/no-explicit-any
            fn.call(client, request, (err: HostCallError | null, resp: any) => (err ? reject(err) : resolve(resp)));
        });

    const host: Host = {
        port,
        startMs,
        pid: proc.pid ?? 0,
        call,
        logs: () => log,
        close: async () => {
            client.close();
            const exited = waitExit(proc);
            proc.kill("SIGTERM");
            const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
            await exited;
            clearTimeout(timer);
        },
        kill: async () => {
            const exited = waitExit(proc);
            proc.kill("SIGKILL");
            await exited;
            client.close();
        },
    };

    // Always configure first, as the engine does (a provider with `configure` fails otherwise).
    try {
        const req = new providerPb.ConfigureRequest();
        const config = options.config ?? {};
        const vars = req.getVariablesMap();
        for (const [k, v] of Object.entries(config)) {
            vars.set(k, v);
        }
        req.setArgs(toStruct(config));
        req.setAcceptsecrets(true);
        req.setAcceptresources(true);
        const resp = await call("configure", req);
        if (resp.getAcceptsecrets() !== false) {
            // The engine logic in engine.ts assumes the host refuses secrets (pulumi 3.248.0 does).
            throw new Error("dynamic-provider host unexpectedly accepts secrets; the harness needs updating");
        }
    } catch (err) {
        await host.close();
        throw err;
    }
    return host;
}
