import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";

export interface WriteFile {
    readonly path: string;
    readonly permissions?: string;
    readonly owner?: string;
    readonly content: string;
}

export interface CloudConfig {
    readonly write_files?: WriteFile[];
    readonly runcmd?: Array<string | string[]>;
    readonly packages?: string[];
    readonly [key: string]: unknown;
}

/** Parses rendered user-data with the JS parser in YAML 1.1 mode (how cloud-init types values). */
export function parseUserData(userData: string): CloudConfig {
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    return YAML.parse(userData, { version: "1.1" }) as CloudConfig;
}

export function fileAt(config: CloudConfig, filePath: string): WriteFile {
    const file = (config.write_files ?? []).find((f) => f.path === filePath);
    if (!file) throw new Error(`no write_files entry for ${filePath}; have ${(config.write_files ?? []).map((f) => f.path).join(", ")}`);
    return file;
}

export function tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `graceful-vm-${prefix}-`));
}

/**
 * Parses many YAML documents with PyYAML (cloud-init's parser, /usr/bin/python3) in one process
 * and returns each as JSON-compatible data, or undefined when PyYAML is not installed.
 */
export function parseWithPyYaml(documents: readonly string[]): unknown[] | undefined {
    const python = "/usr/bin/python3";
    if (!fs.existsSync(python)) return undefined;
    const probe = spawnSync(python, ["-c", "import yaml"]);
    if (probe.status !== 0) return undefined;
    const script = "import json, sys, yaml\ndocs = json.load(sys.stdin)\njson.dump([yaml.safe_load(d) for d in docs], sys.stdout)\n";
    const result = spawnSync(python, ["-c", script], { input: JSON.stringify(documents), maxBuffer: 256 * 1024 * 1024, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`PyYAML failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as unknown[];
}

export interface ValidatorResult {
    readonly ok: boolean;
    readonly passed: number;
    readonly failed: number;
    readonly output: string;
}

/** Runs the validators peer (test/peers/validators/validate-user-data.sh) on the given files. */
export function runValidator(validator: string, files: readonly string[]): ValidatorResult {
    const result = spawnSync("bash", [validator, ...files], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const output = `${result.stdout}${result.stderr}`;
    const summary = /(\d+) passed, (\d+) failed/.exec(result.stdout);
    return { ok: result.status === 0, passed: Number(summary?.[1] ?? 0), failed: Number(summary?.[2] ?? -1), output };
}

/** A hook name fast-check can use: always valid. */
export const hookNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
