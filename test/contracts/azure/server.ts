import { randomBytes, randomUUID } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { AddressInfo } from "net";
import * as path from "path";

/**
 * A local HTTPS stand-in for Azure Resource Manager (Microsoft.Compute VM power operations) and
 * for Entra ID's token endpoints, built from the published contract (the Compute REST API
 * reference and the Entra ID token protocol), not from the client under test (it imports
 * nothing from src/), and held to Microsoft's own SDK in armCompute.test.ts. It serves:
 *
 * - `POST {P}/powerOff[?skipShutdown=true]`, `{P}/start`, `{P}/deallocate`, `{P}/restart`:
 *   202 with an absolute `Location` and/or `Azure-AsyncOperation` plus `Retry-After`, or 200
 *   at once (`lroStyle: "sync"`); 409 `OperationNotAllowed` on powerOff of a deallocated VM.
 * - `GET` on the status URLs: Location → 202 while running, then 200 (or the error response);
 *   Azure-AsyncOperation → always 200 with `{status: InProgress|Succeeded|Failed|Canceled}`.
 * - `GET {P}/instanceView` and `GET {P}[?$expand=instanceView]` with `PowerState/*` codes.
 * - any `api-version` (400 `MissingApiVersionParameter` without one), `{"error": {code, message}}`
 *   errors, 401 without a valid bearer token, and one-shot injected faults (429 + Retry-After, ...).
 * - `POST /{tenant}/oauth2/v2.0/token` (client credentials with a secret, or with a federated
 *   `client_assertion` checked against the principal's federated identity credential: issuer,
 *   subject, audience `api://AzureADTokenExchange`, expiry), managed identity on
 *   `/msi/token` (IDENTITY_ENDPOINT style) and `/metadata/identity/oauth2/token` (IMDS style).
 * - `GET /_github/idtoken?audience=...` with `Authorization: Bearer {requestToken}`: GitHub
 *   Actions' OIDC token request, answering `{"value": jwt}` (another service in reality; here so
 *   one TLS endpoint serves the whole sign-in).
 *
 * Choices the contract leaves open, made here and named so tests do not over-claim:
 * a power action arriving while a graceful powerOff runs preempts it (the earlier operation
 * ends Failed `OperationPreempted`); any other overlap is refused with 409 `Conflict`.
 */

export type AzurePowerState = "starting" | "running" | "stopping" | "stopped" | "deallocating" | "deallocated";
/** `untracked` (202 with no status URL) is outside the contract: benchmarks use it as a polling-only baseline. */
export type LroStyle = "location" | "azure-asyncoperation" | "both" | "sync" | "untracked";

/** How the guest answers the integrated-shutdown signal of a graceful powerOff. */
export type GuestBehaviour = { readonly kind: "shutsDown"; readonly afterMs: number } | { readonly kind: "ignoresShutdown" };

export interface FakeVmSpec {
    readonly subscriptionId: string;
    readonly resourceGroupName: string;
    readonly vmName: string;
    readonly powerState?: AzurePowerState;
    readonly guest?: GuestBehaviour;
    /** VM agent reports Ready this long after the VM starts running. @default 0 */
    readonly agentReadyAfterMs?: number;
}

export interface ServicePrincipal {
    readonly tenantId: string;
    readonly clientId: string;
    readonly clientSecret: string;
    /** A federated identity credential: assertions from this issuer and subject are accepted. */
    readonly federated?: { readonly issuer: string; readonly subject: string };
}

/** What GitHub Actions' token request endpoint needs and issues. */
export interface GithubOidcIssuer {
    readonly requestToken: string;
    readonly issuer: string;
    readonly subject: string;
}

/** An unsigned JWT with the given claims: the server checks claims, not signatures. */
export function fakeJwt(claims: Record<string, unknown>): string {
    const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
    return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${randomBytes(16).toString("base64url")}`;
}

const federatedAudience = "api://AzureADTokenExchange";
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export interface ContractServerOptions {
    readonly lroStyle?: LroStyle;
    /** `Retry-After` on 202 replies, in whole seconds. @default 0 */
    readonly retryAfterSeconds?: number;
    /** How long hard power-off, start and deallocate take. @default 100 */
    readonly operationMs?: number;
    /** Azure forces a gracefully stopping VM off after this long (about 5 minutes in Azure). @default 300000 */
    readonly platformForceAfterMs?: number;
    readonly tokenLifetimeSeconds?: number;
    readonly principals?: readonly ServicePrincipal[];
    /** The `X-IDENTITY-HEADER` value managed-identity callers must send. */
    readonly identityHeader?: string;
    readonly region?: string;
    readonly githubOidc?: GithubOidcIssuer;
}

export interface RecordedRequest {
    readonly method: string;
    readonly path: string;
    readonly query: Readonly<Record<string, string>>;
    /** `bearer` when an Authorization: Bearer header came, `none` otherwise (the token itself is not kept). */
    readonly auth: "bearer" | "none";
    readonly status: number;
    readonly at: number;
}

/** One scripted reply for the next request(s) matching `method` and `path`. */
export interface InjectedFault {
    readonly method?: string;
    readonly path: RegExp;
    readonly status: number;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: unknown;
    /** How many matching requests get it. @default 1 */
    readonly times?: number;
}

interface Operation {
    readonly id: string;
    readonly action: string;
    readonly vm: FakeVm;
    status: "InProgress" | "Succeeded" | "Failed" | "Canceled";
    error?: { code: string; message: string; httpStatus: number };
    readonly startTime: string;
    endTime?: string;
    readonly timers: NodeJS.Timeout[];
    readonly preemptable: boolean;
}

interface FaultState extends InjectedFault {
    remaining: number;
}

export class FakeVm {
    powerState: AzurePowerState;
    guest: GuestBehaviour;
    agentReadyAt: number | undefined;
    current?: Operation;
    /** Everything the VM went through, for assertions: `running->stopping (powerOff graceful)`. */
    readonly history: string[] = [];
    /** `Date.now()` of the last power-state change. */
    changedAt = Date.now();
    /** How the last stop ended: the guest shut down, our client forced it, or the platform did. */
    lastStop?: "guest" | "skipShutdown" | "platformForced" | "deallocate";

    constructor(readonly spec: FakeVmSpec) {
        this.powerState = spec.powerState ?? "running";
        this.guest = spec.guest ?? { kind: "shutsDown", afterMs: 200 };
        this.agentReadyAt = this.powerState === "running" ? Date.now() : undefined;
    }

    setState(next: AzurePowerState, why: string): void {
        this.history.push(`${this.powerState}->${next} (${why})`);
        this.powerState = next;
        this.changedAt = Date.now();
        if (next === "running") this.agentReadyAt = Date.now() + (this.spec.agentReadyAfterMs ?? 0);
        if (next !== "running") this.agentReadyAt = undefined;
    }
}

// Beside this file under ts-jest; from the repo root when compiled elsewhere (benchmarks).
const certDir =
    [path.join(__dirname, "certs"), path.join(process.cwd(), "test", "contracts", "azure", "certs")].find((dir) =>
        fs.existsSync(path.join(dir, "ca.pem")),
    ) ?? path.join(__dirname, "certs");

export class AzureContractServer {
    readonly requests: RecordedRequest[] = [];
    /** Every federated assertion accepted, so tests can check which token was presented. */
    readonly federatedAssertions: string[] = [];
    /** Every access token handed out, so tests can grep logs and state for them. */
    readonly issuedTokens: string[] = [];
    readonly caCert = fs.readFileSync(path.join(certDir, "ca.pem"), "utf8");
    private readonly vms = new Map<string, FakeVm>();
    private readonly operations = new Map<string, Operation>();
    private readonly tokens = new Map<string, number>();
    private readonly faults: FaultState[] = [];
    private readonly intervals: NodeJS.Timeout[] = [];
    private readonly pendingFailures = new Map<
        string,
        { status: "Failed" | "Canceled"; code: string; message: string; httpStatus: number }
    >();
    private server?: https.Server;
    private origin = "";
    private advertised?: string;
    /** How 202 replies are tracked from now on; tests switch it between runs. */
    lroStyle: LroStyle;

    constructor(readonly options: ContractServerOptions = {}) {
        this.lroStyle = options.lroStyle ?? "both";
    }

    static async start(options: ContractServerOptions = {}): Promise<AzureContractServer> {
        const server = new AzureContractServer(options);
        await server.listen();
        return server;
    }

    /** `https://127.0.0.1:<port>`: both the ARM endpoint and the authority host. */
    get url(): string {
        return this.origin;
    }

    /** Status URLs name this origin instead: clients reach ARM through a proxy in front of it. */
    advertiseOrigin(origin: string): void {
        this.advertised = origin;
    }

    addVm(spec: FakeVmSpec): FakeVm {
        const vm = new FakeVm(spec);
        this.vms.set(vmKey(spec.subscriptionId, spec.resourceGroupName, spec.vmName), vm);
        return vm;
    }

    /** The VM of that name, if added. */
    vm(subscriptionId: string, resourceGroupName: string, vmName: string): FakeVm | undefined {
        return this.vms.get(vmKey(subscriptionId, resourceGroupName, vmName));
    }

    inject(fault: InjectedFault): void {
        this.faults.push({ ...fault, remaining: fault.times ?? 1 });
    }

    /** The next operation of this action ends `Failed`/`Canceled` with this ARM error code. */
    failNextOperation(
        action: string,
        failure: { status?: "Failed" | "Canceled"; code: string; message: string; httpStatus?: number },
    ): void {
        this.pendingFailures.set(action, {
            status: failure.status ?? "Failed",
            code: failure.code,
            message: failure.message,
            httpStatus: failure.httpStatus ?? 500,
        });
    }

    /** Every token issued so far stops working (as when a credential is rotated or expires). */
    revokeTokens(): void {
        this.tokens.clear();
    }

    /** TLS connections accepted (each one a handshake the client paid for). */
    tlsConnections = 0;

    /** Token requests of any kind: client credentials, managed identity, in the order they came. */
    tokenRequests(): RecordedRequest[] {
        return this.requests.filter((r) => /\/oauth2\/v2\.0\/token$|^\/msi\/token$|^\/metadata\/identity\/oauth2\/token$/.test(r.path));
    }

    /** Requests to the VM path and operation URLs, without token-endpoint traffic. */
    armRequests(): RecordedRequest[] {
        return this.requests.filter((r) => r.path.startsWith("/subscriptions/"));
    }

    async stop(): Promise<void> {
        for (const op of this.operations.values()) op.timers.forEach(clearTimeout);
        for (const vm of this.vms.values()) vm.current?.timers.forEach(clearTimeout);
        this.intervals.forEach(clearInterval);
        const server = this.server;
        if (!server) return;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }

    private async listen(): Promise<void> {
        this.server = https.createServer(
            { key: fs.readFileSync(path.join(certDir, "server-key.pem")), cert: fs.readFileSync(path.join(certDir, "server.pem")) },
            (req, res) => {
                let body = "";
                req.setEncoding("utf8");
                req.on("data", (chunk: string) => (body += chunk));
                req.on("end", () => this.handle(req, res, body));
            },
        );
        this.server.on("secureConnection", () => this.tlsConnections++);
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", () => resolve()));
        this.origin = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
        const url = new URL(req.url ?? "/", this.origin);
        const query = Object.fromEntries(url.searchParams.entries());
        const authorization = req.headers.authorization ?? "";
        const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}): void => {
            this.requests.push({
                method: req.method ?? "",
                path: url.pathname,
                query,
                auth: /^Bearer /.test(authorization) ? "bearer" : "none",
                status,
                at: Date.now(),
            });
            const text = payload === undefined ? "" : JSON.stringify(payload);
            res.writeHead(status, {
                ...(text ? { "Content-Type": "application/json; charset=utf-8" } : {}),
                "x-ms-request-id": randomUUID(),
                ...headers,
            });
            res.end(text);
        };

        const fault = this.faults.find((f) => f.remaining > 0 && (!f.method || f.method === req.method) && f.path.test(url.pathname));
        if (fault) {
            fault.remaining--;
            return reply(fault.status, fault.body, { ...fault.headers });
        }

        if (req.method === "POST" && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(url.pathname)) return this.clientCredentials(url, body, reply);
        if (req.method === "GET" && url.pathname === "/_github/idtoken") return this.githubIdToken(url, authorization, reply);
        if (req.method === "GET" && (url.pathname === "/msi/token" || url.pathname === "/metadata/identity/oauth2/token"))
            return this.managedIdentity(req, url, reply);

        if (!url.pathname.startsWith("/subscriptions/")) return reply(404, cloudError("NotFound", `no route for ${url.pathname}`));
        const token = /^Bearer (.+)$/.exec(authorization)?.[1];
        if (!token) {
            return reply(401, cloudError("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."), {
                "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token"',
            });
        }
        const expires = this.tokens.get(token);
        if (expires === undefined || expires <= Date.now()) {
            return reply(
                401,
                cloudError(
                    expires === undefined ? "InvalidAuthenticationToken" : "ExpiredAuthenticationToken",
                    "The access token is invalid or has expired.",
                ),
                { "WWW-Authenticate": 'Bearer error="invalid_token"' },
            );
        }
        if (!url.searchParams.get("api-version")) {
            return reply(
                400,
                cloudError("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."),
            );
        }

        const operationMatch =
            /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Compute\/locations\/[^/]+\/(operations|operationResults)\/([^/]+)$/.exec(
                url.pathname,
            );
        if (operationMatch && req.method === "GET")
            return this.operationStatus(operationMatch[1] === "operations" ? "azure-asyncoperation" : "location", operationMatch[2], reply);

        const vmMatch =
            /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)(?:\/([A-Za-z]+))?$/i.exec(
                url.pathname,
            );
        if (!vmMatch) return reply(404, cloudError("NotFound", `no route for ${url.pathname}`));
        const [, sub, group, name, action] = vmMatch.map((p) => (p === undefined ? p : decodeURIComponent(p)));
        const vm = this.vms.get(vmKey(sub, group, name));
        if (!vm) {
            return reply(
                404,
                cloudError(
                    "ResourceNotFound",
                    `The Resource 'Microsoft.Compute/virtualMachines/${name}' under resource group '${group}' was not found.`,
                ),
            );
        }
        if (req.method === "GET" && action === "instanceView") return reply(200, this.instanceView(vm));
        if (req.method === "GET" && action === undefined)
            return reply(200, this.vmBody(vm, url.searchParams.get("$expand") === "instanceView"));
        if (req.method === "POST" && action && ["powerOff", "start", "deallocate", "restart"].includes(action)) {
            return this.powerAction(vm, action, url.searchParams.get("skipShutdown") === "true", reply);
        }
        return reply(405, cloudError("MethodNotAllowed", `${req.method} is not supported on ${url.pathname}`));
    }

    private powerAction(vm: FakeVm, action: string, skipShutdown: boolean, reply: Reply): void {
        const name = vm.spec.vmName;
        if (action === "powerOff" && (vm.powerState === "deallocated" || vm.powerState === "deallocating")) {
            return reply(
                409,
                cloudError(
                    "OperationNotAllowed",
                    `Operation 'powerOff' is not allowed on VM '${name}' since the VM is either deallocated or marked to be deallocated. Please refer to https://aka.ms/vmpowerstates for more details.`,
                ),
            );
        }
        if (vm.current && vm.current.status === "InProgress") {
            if (!vm.current.preemptable) {
                return reply(
                    409,
                    cloudError(
                        "Conflict",
                        `Operation '${action}' is not allowed on VM '${name}' since another operation ('${vm.current.action}') is in progress.`,
                    ),
                );
            }
            this.finish(vm.current, "Failed", {
                code: "OperationPreempted",
                message: "Operation execution has been preempted by a more recent operation.",
                httpStatus: 409,
            });
        }
        const operation: Operation = {
            id: randomUUID(),
            action,
            vm,
            status: "InProgress",
            startTime: new Date().toISOString(),
            timers: [],
            preemptable: action === "powerOff" && !skipShutdown,
        };
        this.operations.set(operation.id, operation);
        vm.current = operation;
        const failure = this.pendingFailures.get(action);
        this.pendingFailures.delete(action);
        const operationMs = this.options.operationMs ?? 100;
        const later = (ms: number, fn: () => void): void => {
            operation.timers.push(setTimeout(() => operation.status === "InProgress" && fn(), ms));
        };

        if (failure) {
            later(operationMs, () => this.finish(operation, failure.status, failure));
        } else if (action === "powerOff") {
            if (vm.powerState === "stopped") {
                later(0, () => this.finish(operation, "Succeeded"));
            } else if (skipShutdown) {
                vm.setState("stopping", "powerOff skipShutdown");
                later(operationMs, () => {
                    vm.setState("stopped", "powered off without shutdown");
                    vm.lastStop = "skipShutdown";
                    this.finish(operation, "Succeeded");
                });
            } else {
                vm.setState("stopping", "powerOff graceful");
                if (vm.guest.kind === "shutsDown") {
                    later(vm.guest.afterMs, () => {
                        vm.setState("stopped", "guest shut down");
                        vm.lastStop = "guest";
                        this.finish(operation, "Succeeded");
                    });
                }
                later(this.options.platformForceAfterMs ?? 300_000, () => {
                    vm.setState("stopped", "platform forced off after its shutdown limit");
                    vm.lastStop = "platformForced";
                    this.finish(operation, "Succeeded");
                });
            }
        } else if (action === "start" || action === "restart") {
            if (vm.powerState === "running" && action === "start") {
                later(0, () => this.finish(operation, "Succeeded"));
            } else {
                vm.setState("starting", action);
                later(operationMs, () => {
                    vm.setState("running", `${action} done`);
                    this.finish(operation, "Succeeded");
                });
            }
        } else if (action === "deallocate") {
            if (vm.powerState === "deallocated") {
                later(0, () => this.finish(operation, "Succeeded"));
            } else {
                vm.setState("deallocating", "deallocate");
                later(operationMs, () => {
                    vm.setState("deallocated", "deallocate done");
                    vm.lastStop ??= "deallocate";
                    this.finish(operation, "Succeeded");
                });
            }
        }

        if (this.lroStyle === "sync") {
            // Both 2025-04-01 examples list 200: the action completes within the request.
            return this.waitUntilDone(operation, () =>
                operation.status === "Succeeded"
                    ? reply(200)
                    : reply(
                          operation.error?.httpStatus ?? 500,
                          cloudError(operation.error?.code ?? "OperationFailed", operation.error?.message ?? ""),
                      ),
            );
        }
        reply(202, undefined, this.trackingHeaders(operation));
    }

    private waitUntilDone(operation: Operation, then: () => void): void {
        const check = setInterval(() => {
            if (operation.status !== "InProgress") {
                clearInterval(check);
                then();
            }
        }, 10);
        this.intervals.push(check);
    }

    private trackingHeaders(operation: Operation): Record<string, string> {
        const style = this.lroStyle;
        const sub = operation.vm.spec.subscriptionId;
        const region = this.options.region ?? "westeurope";
        const base = `${this.advertised ?? this.origin}/subscriptions/${sub}/providers/Microsoft.Compute/locations/${region}`;
        const headers: Record<string, string> = { "Retry-After": String(this.options.retryAfterSeconds ?? 0) };
        if (style === "location" || style === "both") headers.Location = `${base}/operationResults/${operation.id}?api-version=2025-04-01`;
        if (style === "azure-asyncoperation" || style === "both")
            headers["Azure-AsyncOperation"] = `${base}/operations/${operation.id}?api-version=2025-04-01`;
        return headers;
    }

    private operationStatus(style: "azure-asyncoperation" | "location", id: string, reply: Reply): void {
        const operation = this.operations.get(id);
        if (!operation) return reply(404, cloudError("NotFound", `operation ${id} not found`));
        if (style === "location") {
            if (operation.status === "InProgress") return reply(202, undefined, this.trackingHeaders(operation));
            if (operation.status === "Succeeded") return reply(200);
            return reply(
                operation.error?.httpStatus ?? 500,
                cloudError(operation.error?.code ?? "OperationFailed", operation.error?.message ?? ""),
            );
        }
        const document: Record<string, unknown> = { name: operation.id, status: operation.status, startTime: operation.startTime };
        if (operation.endTime) document.endTime = operation.endTime;
        if (operation.error) document.error = { code: operation.error.code, message: operation.error.message };
        const headers: Record<string, string> =
            operation.status === "InProgress" ? { "Retry-After": String(this.options.retryAfterSeconds ?? 0) } : {};
        reply(200, document, headers);
    }

    private finish(operation: Operation, status: Operation["status"], error?: { code: string; message: string; httpStatus: number }): void {
        operation.status = status;
        operation.endTime = new Date().toISOString();
        if (error) operation.error = { code: error.code, message: error.message, httpStatus: error.httpStatus };
        operation.timers.forEach(clearTimeout);
        const vm = operation.vm;
        const preempted = error?.code === "OperationPreempted";
        if (
            status !== "Succeeded" &&
            !preempted &&
            vm.current === operation &&
            (vm.powerState === "stopping" || vm.powerState === "starting" || vm.powerState === "deallocating")
        ) {
            // A failed operation leaves the VM where it started, as far as the contract lets us tell.
            vm.setState(vm.powerState === "starting" ? "stopped" : "running", `${operation.action} ${status}`);
        }
        if (vm.current === operation) vm.current = undefined;
    }

    private instanceView(vm: FakeVm): Record<string, unknown> {
        const agentReady = vm.agentReadyAt !== undefined && vm.agentReadyAt <= Date.now();
        return {
            computerName: vm.spec.vmName,
            osName: "ubuntu",
            osVersion: "24.04",
            hyperVGeneration: "V2",
            vmAgent: {
                vmAgentVersion: agentReady ? "2.9.1.1" : "Unknown",
                statuses: agentReady
                    ? [
                          {
                              code: "ProvisioningState/succeeded",
                              level: "Info",
                              displayStatus: "Ready",
                              message: "Guest Agent is running",
                              time: new Date().toISOString(),
                          },
                      ]
                    : [
                          {
                              code: "ProvisioningState/Unavailable",
                              level: "Warning",
                              displayStatus: "Not Ready",
                              message: "VM status blob is found but not yet populated.",
                              time: new Date().toISOString(),
                          },
                      ],
                extensionHandlers: [],
            },
            disks: [],
            statuses: [
                {
                    code: "ProvisioningState/succeeded",
                    level: "Info",
                    displayStatus: "Provisioning succeeded",
                    time: new Date().toISOString(),
                },
                // displayStatus deliberately differs in wording from the code: clients must read `code`.
                { code: `PowerState/${vm.powerState}`, level: "Info", displayStatus: `Virtual machine is ${vm.powerState.toUpperCase()}` },
            ],
        };
    }

    private vmBody(vm: FakeVm, withInstanceView: boolean): Record<string, unknown> {
        const { subscriptionId, resourceGroupName, vmName } = vm.spec;
        return {
            id: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${vmName}`,
            name: vmName,
            type: "Microsoft.Compute/virtualMachines",
            location: this.options.region ?? "westeurope",
            properties: { provisioningState: "Succeeded", ...(withInstanceView ? { instanceView: this.instanceView(vm) } : {}) },
        };
    }

    private clientCredentials(url: URL, body: string, reply: Reply): void {
        const tenant = decodeURIComponent(url.pathname.split("/")[1]);
        const form = new URLSearchParams(body);
        const principals = this.options.principals ?? [];
        if (form.get("grant_type") !== "client_credentials") {
            return reply(400, {
                error: "unsupported_grant_type",
                error_description: "AADSTS70003: The app requested an unsupported grant type.",
            });
        }
        if (!principals.some((p) => p.tenantId === tenant)) {
            return reply(400, { error: "invalid_request", error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
        }
        const principal = principals.find((p) => p.tenantId === tenant && p.clientId === form.get("client_id"));
        if (!principal) {
            return reply(400, {
                error: "unauthorized_client",
                error_description: `AADSTS700016: Application with identifier '${form.get("client_id")}' was not found in the directory '${tenant}'.`,
            });
        }
        const assertionType = form.get("client_assertion_type");
        if (assertionType !== null) {
            const refusal = this.refuseAssertion(principal, assertionType, form.get("client_assertion") ?? "");
            if (refusal) return reply(refusal.status, refusal.body);
        } else if (principal.clientSecret !== form.get("client_secret")) {
            return reply(401, {
                error: "invalid_client",
                error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${principal.clientId}'.`,
            });
        }
        if (!(form.get("scope") ?? "").endsWith("/.default")) {
            return reply(400, { error: "invalid_scope", error_description: "AADSTS1002012: The provided value for scope is not valid." });
        }
        const lifetime = this.options.tokenLifetimeSeconds ?? 3599;
        reply(200, { token_type: "Bearer", expires_in: lifetime, ext_expires_in: lifetime, access_token: this.issue(lifetime) });
    }

    /** Entra ID's checks of a federated assertion, with its AADSTS codes; undefined when accepted. */
    private refuseAssertion(
        principal: ServicePrincipal,
        assertionType: string,
        assertion: string,
    ): { status: number; body: Record<string, unknown> } | undefined {
        const invalid = (code: string, description: string) => ({ status: 400, body: { error: code, error_description: description } });
        if (assertionType !== jwtBearer)
            return invalid("invalid_request", "AADSTS50027: Invalid JWT token. client_assertion_type is not supported.");
        const parts = assertion.split(".");
        let claims: Record<string, unknown> = {};
        try {
            if (parts.length !== 3) throw new Error("not three parts");
            claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
        } catch {
            return invalid("invalid_request", "AADSTS50027: JWT token is invalid or malformed.");
        }
        const federated = principal.federated;
        if (!federated || claims.iss !== federated.issuer || claims.sub !== federated.subject) {
            return invalid(
                "invalid_client",
                `AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'.`,
            );
        }
        const audiences = ([] as unknown[]).concat(claims.aud);
        if (!audiences.includes(federatedAudience)) {
            return invalid(
                "invalid_client",
                `AADSTS700212: No matching federated identity record found for presented assertion audience '${String(claims.aud)}'.`,
            );
        }
        if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) {
            return invalid("invalid_client", "AADSTS700024: Client assertion is not within its valid time range.");
        }
        this.federatedAssertions.push(assertion);
        return undefined;
    }

    private githubIdToken(url: URL, authorization: string, reply: Reply): void {
        const issuer = this.options.githubOidc;
        if (!issuer || authorization !== `Bearer ${issuer.requestToken}`) return reply(401, { message: "Bad credentials" });
        const audience = url.searchParams.get("audience") ?? "https://github.com/";
        reply(200, {
            count: 1,
            value: fakeJwt({ iss: issuer.issuer, sub: issuer.subject, aud: audience, exp: Math.floor(Date.now() / 1000) + 300 }),
        });
    }

    private managedIdentity(req: http.IncomingMessage, url: URL, reply: Reply): void {
        const appServiceStyle = url.pathname === "/msi/token";
        const authorised = appServiceStyle
            ? this.options.identityHeader !== undefined && req.headers["x-identity-header"] === this.options.identityHeader
            : req.headers.metadata === "true";
        if (!authorised)
            return reply(400, { error: "invalid_request", error_description: "Required metadata header not specified or wrong" });
        const resource = url.searchParams.get("resource");
        if (!resource) return reply(400, { error: "invalid_request", error_description: "Required query variable 'resource' is missing" });
        const lifetime = this.options.tokenLifetimeSeconds ?? 3599;
        reply(200, {
            access_token: this.issue(lifetime),
            expires_on: String(Math.floor(Date.now() / 1000) + lifetime),
            resource,
            token_type: "Bearer",
        });
    }

    private issue(lifetimeSeconds: number): string {
        const token = `eyJ0eXAiOiJKV1Qi.${randomBytes(24).toString("base64url")}.fake`;
        this.tokens.set(token, Date.now() + lifetimeSeconds * 1000);
        this.issuedTokens.push(token);
        return token;
    }
}

type Reply = (status: number, payload?: unknown, headers?: Record<string, string>) => void;

function vmKey(subscriptionId: string, resourceGroupName: string, vmName: string): string {
    // ARM names are case-insensitive.
    return `${subscriptionId}/${resourceGroupName}/${vmName}`.toLowerCase();
}

export function cloudError(code: string, message: string): { error: { code: string; message: string } } {
    return { error: { code, message } };
}
