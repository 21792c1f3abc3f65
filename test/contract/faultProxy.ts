import * as net from "net";

/**
 * A TCP proxy of ours on loopback, between a driver and its peer, that injects connection
 * faults the peer cannot: resets, stalls, half-open connections, TLS handshakes that never
 * finish, an endpoint that is down for a while. It forwards bytes blindly (TLS passes through).
 */
export type ProxyMode =
    /** Forward everything. */
    | "pass"
    /** New connections are reset at once (RST), existing ones too when switched. */
    | "reset"
    /** Existing and new connections stay open but nothing flows either way (a frozen process). */
    | "stall"
    /** New connections are accepted and never answered or closed (the TLS handshake never finishes). */
    | "halfOpen"
    /** New connections are refused (the endpoint is restarting). */
    | "refuse";

export class FaultProxy {
    private mode: ProxyMode = "pass";
    private readonly server: net.Server;
    private readonly links = new Set<{ client: net.Socket; upstream?: net.Socket }>();
    port = 0;

    private constructor(private readonly upstreamPort: number) {
        this.server = net.createServer((client) => this.accept(client));
    }

    static async start(upstreamPort: number): Promise<FaultProxy> {
        const proxy = new FaultProxy(upstreamPort);
        await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
        proxy.port = (proxy.server.address() as net.AddressInfo).port;
        return proxy;
    }

    /** Switches the fault; "reset" also resets every open connection, "stall" freezes them. */
    set(mode: ProxyMode): void {
        this.mode = mode;
        for (const link of [...this.links]) {
            if (mode === "reset" || mode === "refuse") this.drop(link);
            else if (mode === "stall") {
                link.client.pause();
                link.upstream?.pause();
            } else if (mode === "pass") {
                link.client.resume();
                link.upstream?.resume();
            }
        }
    }

    /** `mode` for `ms`, then back to pass. */
    for(mode: ProxyMode, ms: number): void {
        this.set(mode);
        setTimeout(() => this.set("pass"), ms).unref();
    }

    async stop(): Promise<void> {
        for (const link of [...this.links]) this.drop(link);
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private accept(client: net.Socket): void {
        client.on("error", () => undefined);
        const link: { client: net.Socket; upstream?: net.Socket } = { client };
        this.links.add(link);
        client.on("close", () => this.drop(link));
        switch (this.mode) {
            case "reset":
            case "refuse":
                return this.drop(link);
            case "halfOpen":
            case "stall":
                client.pause();
                return;
            case "pass":
                break;
        }
        const upstream = net.connect(this.upstreamPort, "127.0.0.1");
        link.upstream = upstream;
        upstream.on("error", () => this.drop(link));
        upstream.on("close", () => this.drop(link));
        client.pipe(upstream);
        upstream.pipe(client);
    }

    private drop(link: { client: net.Socket; upstream?: net.Socket }): void {
        if (!this.links.delete(link)) return;
        link.client.resetAndDestroy();
        link.upstream?.destroy();
    }
}
