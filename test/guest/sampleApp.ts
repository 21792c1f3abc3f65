import * as YAML from "yaml";

/**
 * The user's own #cloud-config for the real-guest test: a sample app the preStop hooks protect,
 * merged by the package with the hooks (so the merge is proven in a real guest too).
 *
 * - sample-app.service: python3 HTTP server on 127.0.0.1:8080. GET /healthz is 200, or 503
 *   while /run/sample-app/draining exists; any POST is logged with its path and X-Token header
 *   (the httpGet hook's target). Logs its start and SIGTERM; with SAMPLE_APP_MODE=hung it
 *   ignores SIGTERM.
 * - log-event ARG...: appends "<unix time> event:" and each argument in brackets to the log,
 *   so a test sees exactly which argv an exec hook ran.
 * - log-health: appends the /healthz status.
 * - stubborn-app NAME (with `stubbornServices`): a main process that takes 1.5 s to exit on
 *   SIGTERM, and a child that ignores SIGTERM: what makes KillMode= matter.
 * Every line goes to /var/log/peer/events.log (the peer's log dir, read from the host).
 */
export interface SampleAppOptions {
    /**
     * Order sample-app after cloud-final.service (wanted by cloud-init.target) and queue its start
     * from bootcmd, as a service baked into the image and enabled there would be: its start job
     * waits for cloud-init.
     */
    readonly afterCloudFinal?: boolean;
    /** Lines appended to the user's runcmd, after the app's own. */
    readonly extraRuncmd?: readonly string[];
    /** Services running stubborn-app, enabled and started by the user's runcmd. */
    readonly stubbornServices?: readonly string[];
}

export function sampleAppUserData(mode: "graceful" | "hung", options: SampleAppOptions = {}): string {
    const unit = sampleAppUnit(options.afterCloudFinal === true);
    const stubborn = options.stubbornServices ?? [];
    const config = {
        ...(options.afterCloudFinal
            ? {
                  // bootcmd runs in cloud-init's first stage, before write_files: it writes the unit itself.
                  bootcmd: [
                      [
                          "sh",
                          "-c",
                          'printf "%s" "$1" > /etc/systemd/system/sample-app.service && systemctl daemon-reload && systemctl enable sample-app.service && systemctl start --no-block sample-app.service',
                          "sh",
                          unit,
                      ],
                  ],
              }
            : {}),
        write_files: [
            { path: "/etc/default/sample-app", permissions: "0644", content: `SAMPLE_APP_MODE=${mode}\n` },
            { path: "/usr/local/bin/sample-app", permissions: "0755", content: sampleApp },
            {
                path: "/usr/local/bin/log-event",
                permissions: "0755",
                content:
                    '#!/bin/sh\nline="$(date +%s.%N) event:"\nfor arg in "$@"; do line="$line [$arg]"; done\nprintf \'%s\\n\' "$line" >> /var/log/peer/events.log\n',
            },
            {
                path: "/usr/local/bin/log-health",
                permissions: "0755",
                content:
                    "#!/usr/bin/python3\nimport time, urllib.error, urllib.request\ntry:\n    status = urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status\nexcept urllib.error.HTTPError as e:\n    status = e.code\nexcept Exception:\n    status = 'down'\nwith open('/var/log/peer/events.log', 'a') as f:\n    f.write('%.6f health: %s\\n' % (time.time(), status))\n",
            },
            ...(options.afterCloudFinal ? [] : [{ path: "/etc/systemd/system/sample-app.service", permissions: "0644", content: unit }]),
            ...(stubborn.length > 0 ? [{ path: "/usr/local/bin/stubborn-app", permissions: "0755", content: stubbornApp }] : []),
            ...stubborn.map((name) => ({
                path: `/etc/systemd/system/${name}.service`,
                permissions: "0644",
                content: `[Unit]\nDescription=Stubborn ${name}\n[Service]\nExecStart=/usr/local/bin/stubborn-app ${name}\n[Install]\nWantedBy=multi-user.target\n`,
            })),
        ],
        runcmd: [
            ["systemctl", "daemon-reload"],
            ...(options.afterCloudFinal ? [] : [["systemctl", "enable", "--now", "sample-app.service"]]),
            ...stubborn.map((name) => ["systemctl", "enable", "--now", `${name}.service`]),
            ...(options.extraRuncmd ?? []),
        ],
    };
    return `#cloud-config\n${YAML.stringify(config, { version: "1.1" })}`;
}

function sampleAppUnit(afterCloudFinal: boolean): string {
    return [
        "[Unit]",
        "Description=Sample app",
        ...(afterCloudFinal ? ["After=cloud-final.service"] : []),
        "[Service]",
        "EnvironmentFile=/etc/default/sample-app",
        "ExecStart=/usr/local/bin/sample-app",
        "RuntimeDirectory=sample-app",
        "RuntimeDirectoryPreserve=yes",
        "[Install]",
        // After cloud-final, which is after multi-user.target: such a service is wanted by cloud-init.target.
        `WantedBy=${afterCloudFinal ? "cloud-init.target" : "multi-user.target"}`,
        "",
    ].join("\n");
}

/**
 * With KillMode=control-group its child gets SIGTERM twice (ignored both times) and SIGKILL a
 * full TimeoutStopSec after the main process exits; with mixed, SIGKILL as soon as it exits.
 */
const stubbornApp = `#!/bin/bash
name=$1
# With control-group, systemd keeps sending SIGTERM to processes that appear in the cgroup while
# it kills: the handler first ignores TERM (children then inherit that) and writes its lines with
# shell builtins, so neither the log line nor the 1.5 s sleep can be cut short.
event() { printf '%s event: [%s]\\n' "\${EPOCHREALTIME/,/.}" "$1" >> /var/log/peer/events.log; }
sh -c 'trap "" TERM; while :; do sleep 1; done' &
trap 'trap "" TERM; event "$name main SIGTERM"; sleep 1.5; event "$name main exits"; exit 0' TERM
event "$name started"
while :; do sleep 0.2; done
`;

const sampleApp = `#!/usr/bin/python3
import http.server, os, signal, sys, time
LOG = "/var/log/peer/events.log"
MODE = os.environ.get("SAMPLE_APP_MODE", "graceful")
def log(msg):
    with open(LOG, "a") as f:
        f.write("%.6f app: %s\\n" % (time.time(), msg))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        draining = os.path.exists("/run/sample-app/draining")
        self.send_response(503 if draining else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        log("POST %s token=%s body=%s" % (self.path, self.headers.get("X-Token"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
def on_term(signum, frame):
    if MODE == "hung":
        log("SIGTERM received, ignoring it")
        return
    log("SIGTERM received, exiting")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
server = http.server.HTTPServer(("127.0.0.1", 8080), Handler)
log("started mode=%s" % MODE)
server.serve_forever(poll_interval=0.2)
`;
