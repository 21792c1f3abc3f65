#!/usr/bin/env bash
# Runs every benchmark in bench/ (compiled with tsconfig.bench.json: the benches and what they import). Benchmarks print
# ratios and medians; they never fail on a number. They use the peers `npm test` started
# (variables in .test-results/peers.env); run `npm test` first on a fresh machine.
#   npm run bench                 all
#   npm run bench -- libvirt      only bench/*libvirt*.ts
set -uo pipefail
cd "$(dirname "$0")/.."
out=.bench-out; rm -rf "$out"
npx tsc -p tsconfig.bench.json --outDir "$out" || { echo "bench build failed" >&2; exit 1; }
npm run --silent build && mkdir -p node_modules && ln -sfn .. node_modules/pulumi-graceful-vm
if [ -s .test-results/peers.env ]; then set -a; . .test-results/peers.env; set +a; fi
filter=${1:-}
status=0
for bench in bench/*.ts; do
  name=$(basename "$bench" .ts)
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  echo "== $name"
  node "$out/bench/$name.js" || status=1
done
rm -rf "$out"
exit $status
