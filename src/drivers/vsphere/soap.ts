import { setMaxListeners } from "events";
import * as https from "https";
import { Clock, systemClock } from "../../power/clock";
import { CallTimeoutError } from "../../power/errors";
import { CallAttempt, boundedCall, parseRetryAfter, transientNetworkCodes } from "../common/boundedCall";
import { collectBody } from "../responseBody";
import { httpsAgentFor, isTlsVerificationCode } from "../common/tls";
import { VimFault, faultFromSoap } from "./faults";
import { XmlElement, child, escapeXml, parseXml, soapEnvelopeNamespace, vim25Namespace } from "./xml";

/** A ManagedObjectReference: `<obj type="VirtualMachine">vm-57</obj>`. */
export interface MoRef {
    readonly type: string;
    readonly value: string;
}

export interface SoapTransportOptions {
    /** `https://host/sdk`. */
    readonly url: URL;
    /** Extra trusted CA certificates (PEM), added to Node's default roots. */
    readonly caCert?: string;
    /** Skip certificate verification. Only when the user asked for it. */
    readonly insecure?: boolean;
    /**
     * vim25 version sent in SOAPAction. Real servers pick the API version from it; 6.5 has every
     * method used here and every supported vCenter/ESXi accepts it.
     * @default "6.5"
     */
    readonly apiVersion?: string;
    /**
     * How long one try of an ordinary call may take, start to end in wall-clock time (connection
     * and TLS handshake included, not an idle timeout). @default 30000
     */
    readonly requestTimeoutMs?: number;
    /**
     * Tries after the first for a transient failure (reset, refused connection, a try past its
     * bound, HTTP 429/502/503/504 from the proxy in front of vCenter, with Retry-After). @default 2
     */
    readonly retries?: number;
    /** Times the backoff between tries. @default systemClock */
    readonly clock?: Clock;
    /** Told every session cookie received, so it is scrubbed from errors and logs. */
    readonly onSecret?: (value: string) => void;
    /** Connections kept to the endpoint; a fleet's shared session needs more than one VM. @default 4 */
    readonly maxSockets?: number;
}

export interface CallOptions {
    /** Aborts the HTTP request (the caller stopped waiting). */
    readonly signal?: AbortSignal;
    /** Overrides the transport's request timeout (long polls). */
    readonly timeoutMs?: number;
    /** No retry starts after this clock time. */
    readonly deadline?: number;
}

/** The server could not be reached or answered something that is not SOAP. */
export class VsphereConnectionError extends Error {
    /** Worth another try: a reset or refused connection, or a proxy's 429/502/503/504. */
    readonly transient: boolean;
    /** The proxy's Retry-After, in ms. */
    readonly retryAfterMs: number | undefined;

    constructor(message: string, options: { readonly transient?: boolean; readonly retryAfterMs?: number } = {}) {
        super(message);
        this.name = "VsphereConnectionError";
        this.transient = options.transient ?? false;
        this.retryAfterMs = options.retryAfterMs;
    }
}

/** The call was aborted through its signal. */
export class SoapCallAborted extends Error {
    constructor(method: string) {
        super(`vSphere ${method} was aborted`);
        this.name = "SoapCallAborted";
    }
}

const sessionCookieName = "vmware_soap_session";
const maxResponseBytes = 64 * 1024 * 1024;
/** The newest tries kept in `attempts`. */
const maxAttemptsKept = 200;
/** What the reverse proxy in front of vpxd/hostd answers while the service restarts or is busy. */
const transientStatuses = new Set([429, 502, 503, 504]);

/** Whether a failed try of a SOAP call is worth another: never a SOAP fault, a TLS or abort error. */
export function isTransientSoapFailure(error: unknown): boolean {
    return error instanceof CallTimeoutError || (error instanceof VsphereConnectionError && error.transient);
}

/**
 * One vim25 endpoint: builds envelopes, posts them over HTTPS with keep-alive, keeps the session
 * cookie, and turns SOAP faults into VimFault. Never logs request bodies (Login carries the
 * password) or the cookie.
 */
export class SoapTransport {
    /** SOAP calls sent, by method: what the benchmark counts. */
    readonly callCounts = new Map<string, number>();
    /** Every try of every call, failed ones with their error (newest last, the last `maxAttemptsKept`). */
    readonly attempts: CallAttempt[] = [];
    private readonly agent: https.Agent;
    /** Aborted by destroy(): calls still running or waiting to retry end at once. */
    /**
     * Every call in flight listens on it: a fleet's shared session carries hundreds at once,
     * which is by design, not the leak Node's 10-listener warning looks for.
     */
    private readonly closing = unlimitedListeners(new AbortController());
    /** Wall-clock time by which the clean-up calls of windDown() must be done. */
    private windDownBy: number | undefined;
    private readonly soapAction: string;
    private readonly requestTimeoutMs: number;
    private sessionCookie: string | undefined;

    constructor(private readonly options: SoapTransportOptions) {
        this.agent = httpsAgentFor({ caCert: options.caCert, insecure: options.insecure }, { maxSockets: options.maxSockets });
        this.soapAction = `"urn:vim25/${options.apiVersion ?? "6.5"}"`;
        this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    }

    get totalCalls(): number {
        let total = 0;
        for (const count of this.callCounts.values()) total += count;
        return total;
    }

    get hasSession(): boolean {
        return this.sessionCookie !== undefined;
    }

    forgetSession(): void {
        this.sessionCookie = undefined;
    }

    /**
     * Calls `method` on `target` with `params` (already serialized, see `xmlParam`) and returns
     * the `<methodResponse>` element. Throws VimFault for SOAP faults.
     */
    async call(method: string, target: MoRef, params: string, options: CallOptions = {}): Promise<XmlElement> {
        const body = envelope(`<${method} xmlns="${vim25Namespace}">${xmlMoRef("_this", target)}${params}</${method}>`);
        const operation = `${method} on ${target.value}`;
        let timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
        let retries = this.options.retries ?? 2;
        if (this.windDownBy !== undefined) {
            // Clean-up (logout, dropping collectors): one short try each, within what is left.
            const left = this.windDownBy - Date.now();
            if (left <= 0) throw new VsphereConnectionError(`vSphere ${operation}: not sent, the clean-up time is used up`);
            timeoutMs = Math.min(timeoutMs, left);
            retries = 0;
        }
        // Every try is bounded from its first byte to its last; transient failures are tried
        // again (a SOAP fault never is: the server answered). Left transient after the tries, the
        // failure is a TransientError, which the sequence waits out within its own deadline.
        const ended = this.linkedToClosing(options.signal);
        const response = await boundedCall(
            {
                op: operation,
                clock: this.options.clock ?? systemClock,
                timeoutMs,
                retries,
                deadline: options.deadline,
                transient: isTransientSoapFailure,
                attempts: this.attempts,
                signal: ended.signal,
            },
            async (trySignal) => {
                this.callCounts.set(method, (this.callCounts.get(method) ?? 0) + 1);
                const answer = await this.post(body, method, { ...options, signal: trySignal });
                // vCenter answers faults as SOAP (HTTP 500); a bare 503 comes from the proxy in front.
                if (transientStatuses.has(answer.status) && !answer.text.includes("Envelope")) {
                    throw new VsphereConnectionError(
                        `vSphere ${operation}: HTTP ${answer.status} from ${this.options.url.host} (the service is restarting or busy)`,
                        { transient: true, retryAfterMs: parseRetryAfter(answer.retryAfter) },
                    );
                }
                return answer;
            },
        ).finally(() => {
            ended.release();
            if (this.attempts.length > maxAttemptsKept) this.attempts.splice(0, this.attempts.length - maxAttemptsKept);
        });
        let document: XmlElement;
        try {
            document = parseXml(response.text);
        } catch {
            throw new VsphereConnectionError(
                `vSphere ${operation}: HTTP ${response.status} with a body that is not XML (is ${this.options.url.href} a vSphere SDK endpoint?)`,
            );
        }
        const soapBody = document.namespace === soapEnvelopeNamespace ? child(document, "Body") : undefined;
        const result = soapBody?.children[0];
        if (!result) {
            throw new VsphereConnectionError(
                `vSphere ${operation}: HTTP ${response.status} without a SOAP body (is ${this.options.url.href} a vSphere SDK endpoint?)`,
            );
        }
        if (result.name === "Fault" && result.namespace === soapEnvelopeNamespace) throw faultFromSoap(result, operation);
        if (response.status !== 200) {
            throw new VsphereConnectionError(`vSphere ${operation}: unexpected HTTP ${response.status}`);
        }
        return result;
    }

    /** A signal that aborts with the caller's or when the transport is destroyed; release() unhooks it. */
    private linkedToClosing(outer: AbortSignal | undefined): { readonly signal: AbortSignal; release(): void } {
        if (!outer) return { signal: this.closing.signal, release: () => undefined };
        const linked = new AbortController();
        const abort = (): void => linked.abort(outer.aborted ? outer.reason : this.closing.signal.reason);
        if (outer.aborted || this.closing.signal.aborted) abort();
        outer.addEventListener("abort", abort, { once: true });
        this.closing.signal.addEventListener("abort", abort, { once: true });
        return {
            signal: linked.signal,
            release: () => {
                outer.removeEventListener("abort", abort);
                this.closing.signal.removeEventListener("abort", abort);
            },
        };
    }

    /**
     * From now on every call gets one try, and all of them together at most `budgetMs`: the
     * clean-up of a driver that is closing, which must not wait a full timeout per call when
     * the endpoint stopped answering.
     */
    windDown(budgetMs: number): void {
        this.windDownBy = Math.min(this.windDownBy ?? Infinity, Date.now() + budgetMs);
    }

    /** Ends calls still running, closes idle and open sockets so the process can exit. */
    destroy(): void {
        this.closing.abort(new SoapCallAborted("call (the connection was closed)"));
        this.agent.destroy();
    }

    /** One HTTP exchange; its bound and retries are call()'s. */
    private post(
        body: string,
        method: string,
        options: CallOptions,
        retried = false,
    ): Promise<{ status: number; text: string; retryAfter?: string }> {
        const url = this.options.url;
        return new Promise((resolve, reject) => {
            if (options.signal?.aborted) return reject(new SoapCallAborted(method));
            const request = https.request(
                {
                    agent: this.agent,
                    protocol: url.protocol,
                    hostname: url.hostname.replace(/^\[|\]$/g, ""),
                    port: url.port || 443,
                    path: `${url.pathname}${url.search}`,
                    method: "POST",
                    headers: {
                        "Content-Type": "text/xml; charset=utf-8",
                        SOAPAction: this.soapAction,
                        "Content-Length": Buffer.byteLength(body),
                        ...(this.sessionCookie ? { Cookie: this.sessionCookie } : {}),
                    },
                    signal: options.signal,
                },
                (response) => {
                    this.keepSessionCookie(response.headers["set-cookie"]);
                    collectBody(
                        response,
                        maxResponseBytes,
                        () =>
                            request.destroy(
                                new VsphereConnectionError(`vSphere ${method}: response larger than ${maxResponseBytes} bytes`),
                            ),
                        (text) => {
                            const retryAfter = response.headers["retry-after"];
                            resolve({ status: response.statusCode ?? 0, text, ...(retryAfter !== undefined ? { retryAfter } : {}) });
                        },
                    );
                    response.on("error", (e) => reject(this.connectionError(e, method, options)));
                },
            );
            request.on("error", (e: NodeJS.ErrnoException) => {
                // A kept-alive socket the server closed in the meantime: the request never
                // reached it, so sending it again on a fresh socket is safe.
                if (!retried && request.reusedSocket && e.code === "ECONNRESET") {
                    this.post(body, method, options, true).then(resolve, reject);
                    return;
                }
                reject(this.connectionError(e, method, options));
            });
            request.end(body);
        });
    }

    private keepSessionCookie(header: string[] | undefined): void {
        for (const cookie of header ?? []) {
            const pair = cookie.split(";")[0].trim();
            if (pair.startsWith(`${sessionCookieName}=`)) {
                this.sessionCookie = pair;
                this.options.onSecret?.(pair.slice(sessionCookieName.length + 1).replace(/^"|"$/g, ""));
            }
        }
    }

    private connectionError(error: NodeJS.ErrnoException, method: string, options: CallOptions): Error {
        if (error instanceof VsphereConnectionError || error instanceof VimFault) return error;
        if (options.signal?.aborted || error.name === "AbortError") return new SoapCallAborted(method);
        const host = this.options.url.host;
        const code = error.code ?? "";
        if (isTlsVerificationCode(code) && code !== "ERR_TLS_CERT_ALTNAME_INVALID") {
            return new VsphereConnectionError(
                `the TLS certificate of ${host} is not trusted (${code}): pass its CA certificate (PEM) in target.vsphere.caCert, ` +
                    `or set target.vsphere.insecure to true to skip verification`,
            );
        }
        if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
            return new VsphereConnectionError(
                `the TLS certificate of ${host} is not valid for that name (${error.message}); use the host name the certificate names in target.vsphere.url`,
            );
        }
        const transient = transientNetworkCodes.has(code) || /socket hang up/.test(error.message);
        return new VsphereConnectionError(`cannot reach vSphere at ${host} (${method}): ${code ? `${code} ` : ""}${error.message}`, {
            transient,
        });
    }
}

function envelope(inner: string): string {
    return (
        `<?xml version="1.0" encoding="UTF-8"?>` +
        `<soapenv:Envelope xmlns:soapenv="${soapEnvelopeNamespace}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
        `<soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`
    );
}

/** `<name>text</name>`, escaped. */
export function xmlParam(name: string, value: string | number | boolean): string {
    return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name type="T">value</name>`. */
export function xmlMoRef(name: string, ref: MoRef): string {
    return `<${name} type="${escapeXml(ref.type)}">${escapeXml(ref.value)}</${name}>`;
}

/** `<name>inner</name>` around already serialized children, with an optional XSI type. */
export function xmlElement(name: string, inner: string, xsiType?: string): string {
    return xsiType ? `<${name} xsi:type="${escapeXml(xsiType)}">${inner}</${name}>` : `<${name}>${inner}</${name}>`;
}

/** Reads a ManagedObjectReference element. */
export function moRefOf(element: XmlElement | undefined): MoRef | undefined {
    const type = element?.attributes.type;
    return element && type ? { type, value: element.text.trim() } : undefined;
}

function unlimitedListeners(controller: AbortController): AbortController {
    setMaxListeners(0, controller.signal);
    return controller;
}
