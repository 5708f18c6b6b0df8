// `make bench`: SPEC.md's performance targets, measured on this machine and
// printed beside their baselines (the bare syscall, auditd) in one run.
// Needs root, build/dm_call and dist/dmrec; installs and starts auditd itself.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureWriter } from "../src/capture/writer.ts";
import { header } from "../test/support/captures.ts";
import { makeEvent } from "../test/support/events.ts";
import { ascii, DM_CALL, DMREC, hex, readUntil, requireRoot } from "../test/support/recorder.ts";

requireRoot();
const FLOOD = 1_000_000;
const AUDIT_FLOOD = 200_000;
const QUERY_EVENTS = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), "dmrec-bench-"));
const rows: [string, string, string, string][] = [];
const row = (what: string, dmrec: string, baseline: string, target: string) => rows.push([what, dmrec, baseline, target]);
const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd]);

/** ns per delete_module call of a flood from one process. */
function flood(n: number, name: string): { nsPerCall: number; pid: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync([DM_CALL, "--flood", String(n), hex(ascii(name)), "0"]);
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`dm_call: ${r.stderr}`);
  return { nsPerCall: (ms * 1e6) / n, pid: JSON.parse(r.stdout.toString()).pid };
}

async function startRecorder(out: string) {
  const t0 = performance.now();
  const rec = Bun.spawn([DMREC, "record", "--out", out], { stderr: "pipe", stdout: "ignore" });
  const { text, reader } = await readUntil(rec.stderr, /recording to/, 20_000);
  const attachedMs = performance.now() - t0;
  return {
    rec,
    attachedMs,
    async stop() {
      rec.kill("SIGINT");
      await rec.exited;
      let err = text;
      for (let c = await reader.read(); !c.done; c = await reader.read()) err += new TextDecoder().decode(c.value);
      const m = /(\d+) events, (\d+) lost, (\d+) bytes/.exec(err)!;
      return { events: Number(m[1]), lost: Number(m[2]), bytes: Number(m[3]) };
    },
  };
}

const procStat = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssKb };
};

// 1. Overhead per call and accounting under a flood.
const bare = flood(FLOOD, "bench_bare");
const out = join(dir, "flood.cbor.zst");
const r = await startRecorder(out);
const traced = flood(FLOOD, "bench_flood");
await Bun.sleep(500);
const s = await r.stop();
const recorded = Number(Bun.spawnSync([DMREC, "query", out, "--pid", String(traced.pid), "--count"]).stdout.toString());

// 2. auditd, the baseline the SPEC names, with Debian's default auditd.conf
// (a log rotated over 5 files of 8 MB): count what all its files kept.
if (!existsSync("/sbin/auditctl")) sh("apt-get install -y -qq --no-install-recommends auditd >/dev/null 2>&1");
sh("pkill -x auditd; sleep 1; rm -f /var/log/audit/audit.log*; /sbin/auditd");
await Bun.sleep(1000);
sh("/sbin/auditctl -D >/dev/null; /sbin/auditctl -a always,exit -F arch=b64 -S delete_module");
const audited = flood(AUDIT_FLOOD, "bench_audit");
await Bun.sleep(2000);
sh("/sbin/auditctl -D >/dev/null; pkill -x auditd");
const logs = readdirSync("/var/log/audit").filter((f) => f.startsWith("audit.log")).map((f) => join("/var/log/audit", f));
const auditBytes = logs.reduce((sum, f) => sum + statSync(f).size, 0);
const auditEvents = logs.reduce((sum, f) => sum + (readFileSync(f, "latin1").match(/^type=SYSCALL .* syscall=176 /gm)?.length ?? 0), 0);

row("ns per delete_module call, flood from one process", `${traced.nsPerCall.toFixed(0)} ns`, `bare ${bare.nsPerCall.toFixed(0)} ns, auditd ${(audited.nsPerCall / 1000).toFixed(1)} us`, "small multiple of bare; auditd ~47 us");
row(
  `calls of a ${FLOOD}-call flood accounted for`,
  `${(((recorded + s.lost) / FLOOD) * 100).toFixed(2)}% (${recorded} recorded + ${s.lost} counted lost)`,
  `auditd kept ${auditEvents} of ${AUDIT_FLOOD} (${((auditEvents / AUDIT_FLOOD) * 100).toFixed(1)}%), lost ones not in the log`,
  "100%",
);
row("capture bytes per recorded event", `${(s.bytes / Math.max(1, s.events)).toFixed(1)} B`, `auditd log ${(auditBytes / Math.max(1, auditEvents)).toFixed(0)} B`, "a few bytes; auditd ~540 B");

// 3. Start to attached, idle cost.
const idle = await startRecorder(join(dir, "idle.cbor.zst"));
const c0 = procStat(idle.rec.pid);
await Bun.sleep(5000);
const c1 = procStat(idle.rec.pid);
await idle.stop();
row("record start to attached", `${idle.attachedMs.toFixed(0)} ms (incl. process start)`, "-", "well under a second");
row("idle recorder: CPU, memory", `${(((c1.cpuTicks - c0.cpuTicks) / 100 / 5) * 100).toFixed(1)}% CPU, ${(c1.rssKb / 1024).toFixed(0)} MiB RSS`, "-", "small enough for every host");

// 4. Query over a large capture: streaming, selective with the index.
const big = join(dir, "big.cbor.zst");
const w = CaptureWriter.create(big, header);
for (let i = 0; i < QUERY_EVENTS; i++) {
  const name = ascii(`mod_${Math.floor(i / 1000) % 1000}`);
  w.write(makeEvent({ ts_ns: 1_764_000_000_000_000_000n + BigInt(i) * 1000n, pid: i, tid: i, name, name_entry: name, name_exit: name, name_kernel: null }));
}
w.close();
const timed = (args: string[]) => {
  const t0 = performance.now();
  const q = Bun.spawnSync(["/usr/bin/time", "-f", "%M", DMREC, ...args]);
  return { s: (performance.now() - t0) / 1000, rssMiB: Number(q.stderr.toString().trim().split("\n").pop()) / 1024, out: q.stdout.toString().trim() };
};
const sel = timed(["query", big, "--module", "mod_7", "--count"]);
const full = timed(["query", big, "--count"]);
row(`query --module X over ${QUERY_EVENTS / 1e6}M events (${sel.out} match)`, `${sel.s.toFixed(1)} s, ${sel.rssMiB.toFixed(0)} MiB peak`, `every event decoded: ${full.s.toFixed(1)} s, ${full.rssMiB.toFixed(0)} MiB`, "10M events in seconds, flat memory");

rmSync(dir, { recursive: true, force: true });
const widths = [0, 1, 2, 3].map((i) => Math.max(...[["metric", "dmrec", "baseline", "target"], ...rows].map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(line(["metric", "dmrec", "baseline", "target"]));
for (const r of rows) console.log(line(r));
