// A jest reporter: after the summary, one line per peer whose tests skipped, with the reason
// scripts/test.sh recorded (GRACEFUL_VM_PEER_REASONS), so a peer-less run says why once instead
// of once per file. The titles come from describeWithPeer (test/helpers/peers.ts).
const fs = require("fs");

const marker = /\(peer ([\w.-]+) not running\)$/;

function reasons() {
    const file = process.env.GRACEFUL_VM_PEER_REASONS;
    const byPeer = new Map();
    if (!file) return byPeer;
    let text = "";
    try {
        text = fs.readFileSync(file, "utf8");
    } catch {
        return byPeer;
    }
    for (const line of text.split("\n")) {
        const tab = line.indexOf("\t");
        if (tab > 0) byPeer.set(line.slice(0, tab), line.slice(tab + 1));
    }
    return byPeer;
}

class PeerSkips {
    onRunComplete(_contexts, results) {
        const skipped = new Map();
        for (const file of results.testResults) {
            for (const test of file.testResults) {
                if (test.status !== "pending") continue;
                const match = marker.exec(test.ancestorTitles[0] ?? "");
                if (match) skipped.set(match[1], (skipped.get(match[1]) ?? 0) + 1);
            }
        }
        const why = reasons();
        const elsewhere = (process.env.GRACEFUL_VM_PEERS_ELSEWHERE ?? "").split(/\s+/);
        for (const [peer, count] of [...skipped].sort()) {
            const reason =
                why.get(peer) ??
                (elsewhere.includes(peer)
                    ? "its tests run in another lane (GRACEFUL_VM_PEERS_ELSEWHERE)"
                    : `not started; npm test starts it, or bash scripts/peers/${peer}.sh start`);
            process.stderr.write(`peer ${peer} not running, ${count} test${count === 1 ? "" : "s"} skipped: ${reason}\n`);
        }
    }
}

module.exports = PeerSkips;
