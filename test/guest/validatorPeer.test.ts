import * as fs from "fs";
import * as path from "path";
import { describeWithPeer } from "../helpers/peers";
import { runValidator, tempDir } from "./helpers";

/**
 * The validators peer (test/peers/validators) catches what each of its checks is for, so a green
 * run over rendered user-data means something: one file with a fault per check, one clean file.
 */
const broken = `#cloud-config
write_files:
  - path: /etc/systemd/system/app@1.service.d/10-stop.conf
    content: |
      [Service]
      TimeoutStopSec=two minutes please
  - path: /etc/systemd/system/db:main.service.d/10-stop.conf
    content: |
      [Service]
      KillMode=sometimes
  - path: /etc/systemd/system/prestop.service
    content: |
      [Service]
      Type=oneshot
      ExecStart=/bin/true
      ExecStop=/usr/local/lib/prestop/run-hoks
  - path: /usr/local/lib/prestop/run-hooks
    permissions: '0755'
    content: |
      #!/bin/sh
      for hook in $(ls /etc/prestop.d); do [[ -x $hook ]] && $hook; done
  - path: /usr/local/lib/prestop/request
    permissions: '0755'
    content: |
      #!/usr/bin/python3
      def send(:
  - path: /usr/local/lib/prestop/hook.json
    content: '{"url": }'
runcmd:
  - rm -rf $STATE/
`;

const clean = `#cloud-config
write_files:
  - path: /etc/systemd/system/app@1.service.d/10-stop.conf
    content: |
      [Service]
      TimeoutStopSec=2min
  - path: /etc/systemd/system/db:main.service.d/10-stop.conf
    content: |
      [Service]
      KillMode=mixed
  - path: /etc/systemd/system/prestop.service
    content: |
      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=/bin/true
      ExecStop=/usr/local/lib/prestop/run-hooks
  - path: /usr/local/lib/prestop/run-hooks
    permissions: '0755'
    content: |
      #!/bin/sh
      for hook in /etc/prestop.d/*; do [ -x "$hook" ] && "$hook"; done
  - path: /usr/local/lib/prestop/request
    permissions: '0755'
    content: |
      #!/usr/bin/python3
      def send(url):
          return url
  - path: /usr/local/lib/prestop/hook.json
    content: '{"url": "http://127.0.0.1/"}'
runcmd:
  - rm -rf "\${STATE:?}/"
`;

describeWithPeer("the validators peer", "validators", ["GUEST_VALIDATOR"], (env) => {
    let dir: string;
    beforeAll(() => {
        dir = tempDir("validator-peer");
        fs.writeFileSync(path.join(dir, "broken.yaml"), broken);
        fs.writeFileSync(path.join(dir, "clean.yaml"), clean);
        fs.writeFileSync(path.join(dir, "not-cloud-config.yaml"), "write_files: []\n");
    });

    test("each check fails on its own fault, with the tool's words", () => {
        const file = path.join(dir, "broken.yaml");
        const result = runValidator(env.GUEST_VALIDATOR, [file]);
        expect(result.ok).toBe(false);
        expect({ passed: result.passed, failed: result.failed }).toEqual({ passed: 1, failed: 7 });
        const failures = result.output
            .split("\n")
            .filter((line) => line.startsWith("FAIL - "))
            .map((line) => line.slice(`FAIL - ${file}: `.length).replace(/ \(exit \d\)$/, ""));
        expect(failures.sort()).toEqual(
            [
                "json /usr/local/lib/prestop/hook.json",
                "python3 compile /usr/local/lib/prestop/request",
                "shellcheck (runcmd)",
                "shellcheck /usr/local/lib/prestop/run-hooks",
                "systemd-analyze verify /etc/systemd/system/app@1.service.d/10-stop.conf",
                "systemd-analyze verify /etc/systemd/system/db:main.service.d/10-stop.conf",
                "systemd-analyze verify /etc/systemd/system/prestop.service",
            ].sort(),
        );
        expect(result.output).toContain("Failed to parse time value, ignoring: two minutes please");
        expect(result.output).toContain("Failed to parse kill mode specification, ignoring: sometimes");
        expect(result.output).toContain("Command /usr/local/lib/prestop/run-hoks is not executable");
        expect(result.output).toContain("[SC2045]");
        expect(result.output).toContain("[SC3010]");
        expect(result.output).toContain("[SC2115]");
        expect(result.output).toContain("/usr/local/lib/prestop/request:2: invalid syntax");
    });

    test("the same file without the faults passes every check", () => {
        const result = runValidator(env.GUEST_VALIDATOR, [path.join(dir, "clean.yaml")]);
        expect(result.output).not.toMatch(/^FAIL/m);
        expect({ ok: result.ok, passed: result.passed, failed: result.failed }).toEqual({ ok: true, passed: 8, failed: 0 });
    });

    test("a file that is not #cloud-config fails the schema and nothing else runs", () => {
        const result = runValidator(env.GUEST_VALIDATOR, [path.join(dir, "not-cloud-config.yaml")]);
        expect({ ok: result.ok, passed: result.passed, failed: result.failed }).toEqual({ ok: false, passed: 0, failed: 1 });
        expect(result.output).toMatch(/needs to begin with "#cloud-config"/);
    });
});
