// `make bench`: SPEC.md's performance targets, measured on this machine and
// printed beside their baselines (the bare syscall, auditd) in one run. The
// executable measured is the shipped one as a user runs it: a copy outside
// the build tree, with the tree hidden (a private mount namespace), so
// nothing from the tree helps it. Needs root, build/dm_call
// and dist/dmrec; installs and starts auditd itself.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CaptureWriter } from "../src/capture/writer.ts";
import { header } from "../test/support/captures.ts";
import { makeEvent } from "../test/support/events.ts";
import { ascii, DM_CALL, DMREC, hex, readUntil, requireRoot } from "../test/support/recorder.ts";

requireRoot();
const FLOOD = 1_000_000;
const AUDIT_FLOOD = 200_000;
const QUERY_EVENTS = 1_000_000;
const BIG_QUERY_EVENTS = 10_000_000;
const PACED_RATE = 400_000;
const PACED_CALLS = 2_000_000;
const GETPPID_CALLS = 3_000_000;
const UNLIMITED = ["key", "process", "global", "toctou-process", "toctou-global"].flatMap((b) => [`--budget-${b}`, "unlimited"]);

const repo = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "dmrec-bench-"));
const exe = join(dir, "dmrec");
copyFileSync(DMREC, exe);
/** The copied executable, with the whole build tree out of its reach. */
const shipped = (args: string[]) => ["unshare", "-m", "sh", "-c", `mount -t tmpfs none ${repo} && exec "$0" "$@"`, exe, ...args];

const rows: [string, string, string, string][] = [];
const row = (what: string, dmrec: string, baseline: string, target: string) => rows.push([what, dmrec, baseline, target]);
const sh = (cmd: string) => Bun.spawnSync(["sh", "-c", cmd]);

interface Flood {
  pid: number;
  calls: number;
  ns: number;
}

/** A helper run; its own clock times the calls, without process start-up. */
function helper(args: string[]): Flood {
  const r = Bun.spawnSync([DM_CALL, ...args]);
  if (r.exitCode !== 0) throw new Error(`dm_call ${args.join(" ")}: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as Flood;
}
const flood = (n: number, name: string) => helper(["--flood", String(n), hex(ascii(name)), "0"]);
const nsPerCall = (f: Flood) => f.ns / f.calls;
/** The best of a few runs: the least disturbed by whatever else the machine does. */
const best = (runs: number, f: () => Flood) => Array.from({ length: runs }, f).reduce((a, b) => (nsPerCall(b) < nsPerCall(a) ? b : a));

async function startRecorder(out: string, extra: string[] = []) {
  const t0 = performance.now();
  const rec = Bun.spawn(shipped(["record", "--out", out, ...extra]), { stderr: "pipe", stdout: "ignore" });
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
      const m = /(\d+) events, (\d+) aggregated, (\d+) lost, (\d+) bytes/.exec(err);
      if (!m) throw new Error(`no summary from the recorder: ${err}`);
      return { events: Number(m[1]), aggregated: Number(m[2]), lost: Number(m[3]), bytes: Number(m[4]) };
    },
  };
}

const procStat = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssKb };
};
const IDLE_S = 90;
const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(2)}%`;

// `bun bench/run.ts reader` measures only the reader (section 5).
if (process.argv[2] !== "reader") {
  // 1. Overhead per call and accounting under a flood, default settings.
  const bare = best(3, () => flood(FLOOD, "bench_bare"));
  const bareGetppid = best(3, () => helper(["--getppid", String(GETPPID_CALLS)]));
  const r = await startRecorder(join(dir, "flood.cbor.zst"));
  const traced = best(3, () => flood(FLOOD, "bench_flood"));
  const tracedGetppid = best(3, () => helper(["--getppid", String(GETPPID_CALLS)]));
  await Bun.sleep(1500); // a harvest period after the last call
  const s = await r.stop();
  const floodCalls = 3 * FLOOD;

  // 2. Every call an event: budgets raised, a warm-up, then a paced flood.
  const u = await startRecorder(join(dir, "unlimited.cbor.zst"), UNLIMITED);
  flood(200_000, "bench_warmup");
  await Bun.sleep(1000);
  const paced = helper(["--flood-rate", String(PACED_CALLS), String(PACED_RATE), hex(ascii("bench_paced")), "0"]);
  await Bun.sleep(1000);
  const full = flood(FLOOD, "bench_full");
  await Bun.sleep(1500);
  const us = await u.stop();
  const q = (file: string, ...args: string[]) => JSON.parse(Bun.spawnSync(shipped(["stats", file, "--json", ...args])).stdout.toString());
  const pacedStats = q(join(dir, "unlimited.cbor.zst"), "--pid", String(paced.pid)).totals;
  const fullStats = q(join(dir, "unlimited.cbor.zst"), "--pid", String(full.pid)).totals;

  // 3. auditd, the baseline SPEC names, with Debian's default auditd.conf
  // (a log rotated over 5 files of 8 MB): count what all its files kept.
  if (!existsSync("/sbin/auditctl")) sh("apt-get install -y -qq --no-install-recommends auditd >/dev/null 2>&1");
  sh("pkill -x auditd; sleep 1; rm -f /var/log/audit/audit.log*; /sbin/auditd");
  await Bun.sleep(1000);
  sh("/sbin/auditctl -D >/dev/null; /sbin/auditctl -a always,exit -F arch=b64 -S delete_module");
  const audited = flood(AUDIT_FLOOD, "bench_audit");
  await Bun.sleep(2000);
  // Once audit has been on, every task forked later pays its syscall slow path
  // (about 100 ns a call here) until reboot, unless a task rule turns it off:
  // without this, the rows below and any later run would measure audit too.
  sh("/sbin/auditctl -D >/dev/null; pkill -x auditd; sleep 1; /sbin/auditctl -e 0 >/dev/null; /sbin/auditctl -a task,never");
  const logs = readdirSync("/var/log/audit").filter((f) => f.startsWith("audit.log")).map((f) => join("/var/log/audit", f));
  const auditBytes = logs.reduce((sum, f) => sum + statSync(f).size, 0);
  const auditEvents = logs.reduce((sum, f) => sum + (readFileSync(f, "latin1").match(/^type=SYSCALL .* syscall=176 /gm)?.length ?? 0), 0);

  const ratio = (x: number) => `${(x / nsPerCall(bare)).toFixed(1)}x`;
  row(
    `ns per delete_module call, flood from one process (${FLOOD / 1e6}M calls)`,
    `${nsPerCall(traced).toFixed(0)} ns (${ratio(nsPerCall(traced))} bare)`,
    `bare ${nsPerCall(bare).toFixed(0)} ns; auditd ${(nsPerCall(audited) / 1000).toFixed(1)} us (${ratio(nsPerCall(audited))})`,
    "at most 4x bare, 2x the aim; auditd ~24-47 us",
  );
  row(
    `calls of three ${FLOOD / 1e6}M-call floods accounted for, default settings`,
    `${pct(s.events + s.aggregated + s.lost, floodCalls)}: ${s.events} events + ${s.aggregated} aggregated + ${s.lost} lost`,
    `auditd kept ${auditEvents} of ${AUDIT_FLOOD} (${pct(auditEvents, AUDIT_FLOOD)}), the rest unaccounted`,
    "100%, 0 lost",
  );
  row(
    `individual events/s, every call an event (budgets unlimited), ${PACED_CALLS / 1e6}M calls paced at ${PACED_RATE / 1000}k/s`,
    `${((pacedStats.events / paced.ns) * 1e9 / 1000).toFixed(0)}k/s: ${pct(pacedStats.events, paced.calls)} events, ${pacedStats.aggregated} aggregated, ${pacedStats.lost} lost`,
    "-",
    ">= 400k/s without loss",
  );
  row(
    `the same at full rate (${FLOOD / 1e6}M calls in ${(full.ns / 1e6).toFixed(0)} ms)`,
    `${((fullStats.events / full.ns) * 1e9 / 1000).toFixed(0)}k events/s: ${pct(fullStats.events, full.calls)} events, the rest aggregated (${fullStats.lost} lost)`,
    "-",
    "every call accounted",
  );
  row(
    "ns per unrelated syscall (getppid) with the raw-syscalls hook",
    `${nsPerCall(tracedGetppid).toFixed(0)} ns (+${(nsPerCall(tracedGetppid) - nsPerCall(bareGetppid)).toFixed(0)} ns)`,
    `${nsPerCall(bareGetppid).toFixed(0)} ns without the recorder`,
    "at most +100 ns",
  );
  row("capture bytes per call, aggregated flood", `${(s.bytes / floodCalls).toFixed(4)} B`, `auditd log ${(auditBytes / Math.max(1, auditEvents)).toFixed(0)} B per event`, "a few bytes per event");
  row("capture bytes per individual event", `${(us.bytes / Math.max(1, us.events)).toFixed(1)} B`, `auditd log ${(auditBytes / Math.max(1, auditEvents)).toFixed(0)} B`, "a few bytes; auditd ~540 B");

  // 4. Start to attached, idle cost.
  // 90 s: the recorder gives back its start-up pages at 3 s and again at 60 s; the row
  // shows where RSS stands at the end and the highest it reached after the first release.
  const idle = await startRecorder(join(dir, "idle.cbor.zst"));
  await Bun.sleep(5000);
  const c0 = procStat(idle.rec.pid);
  let idlePeakKb = c0.rssKb;
  for (let s = 5; s < IDLE_S; s++) {
    await Bun.sleep(1000);
    idlePeakKb = Math.max(idlePeakKb, procStat(idle.rec.pid).rssKb);
  }
  const c1 = procStat(idle.rec.pid);
  await idle.stop();
  row("record start to attached", `${idle.attachedMs.toFixed(0)} ms (incl. process start)`, "-", "well under a second");
  // The floor: an executable of the same Bun that only sleeps.
  const floorSrc = join(dir, "sleep.ts");
  await Bun.write(floorSrc, "setInterval(() => {}, 1000);\n");
  const floorExe = join(dir, "sleep");
  Bun.spawnSync([process.execPath, "build", "--compile", floorSrc, "--outfile", floorExe], { stdout: "ignore" });
  const floor = Bun.spawn([floorExe]);
  await Bun.sleep(2000);
  const floorRss = procStat(floor.pid).rssKb;
  floor.kill();
  await floor.exited;
  row(
    "idle recorder: CPU, memory",
    `${(((c1.cpuTicks - c0.cpuTicks) / 100 / (IDLE_S - 5)) * 100).toFixed(1)}% CPU, ${(c1.rssKb / 1024).toFixed(0)} MiB RSS at ${IDLE_S} s (highest from 5 s: ${(idlePeakKb / 1024).toFixed(0)})`,
    `a Bun executable that only sleeps: ${(floorRss / 1024).toFixed(0)} MiB`,
    "at most 55 MiB",
  );

}

// 5. The reader over large captures, from the shipped executable: a full scan on every
// core beside one thread (DMREC_WORKERS=0), memory as the capture grows tenfold, and
// the index for a selective query.
// A flood: one process context and name after another. `varied`: every event's context,
// name and process image differ from the one before (nothing for the reader to reuse).
const writeBig = (n: number, varied = false) => {
  const file = join(dir, `big-${n}${varied ? "-varied" : ""}.cbor.zst`);
  const w = CaptureWriter.create(file, header);
  for (let i = 0; i < n; i++) {
    const ts_ns = 1_764_000_000_000_000_000n + BigInt(i) * 1000n;
    if (varied) {
      const name = ascii(`mod_${i % 997}`);
      const own = { ppid: i % 4093, uid: i % 7, comm: `c${i % 101}`, exe_inode: BigInt(i % 89), argv: [ascii("rmmod"), name] };
      w.write(makeEvent({ ts_ns, pid: i, tid: i, name, name_entry: name, name_exit: name, name_kernel: null, ...own }));
      continue;
    }
    const name = ascii(`mod_${Math.floor(i / 1000) % 1000}`);
    w.write(makeEvent({ ts_ns, pid: i, tid: i, name, name_entry: name, name_exit: name, name_kernel: null }));
  }
  w.close();
  return file;
};
const timed = (args: string[], workers?: number) => {
  const env = workers === undefined ? process.env : { ...process.env, DMREC_WORKERS: String(workers) };
  const run = Bun.spawnSync(["/usr/bin/time", "-f", "%e %M %U %S", ...shipped(args)], { env, stdout: args.includes("--count") ? "pipe" : "ignore" });
  const [s, kb, user, sys] = run.stderr.toString().trim().split("\n").pop()!.split(" ").map(Number) as [number, number, number, number];
  return { s, rssMiB: kb / 1024, cpuS: user + sys, out: run.stdout?.toString().trim() ?? "" };
};
const cores = navigator.hardwareConcurrency;
const perCore = (events: number, t: { cpuS: number }) => `${((events / t.cpuS) / 1e6).toFixed(2)}M events/s per core`;
// The best of three, as for the flood rows above: this VM's neighbours move single runs by 20%.
const bestTimed = (args: string[], workers?: number) => {
  const runs = [0, 1, 2].map(() => timed(args, workers));
  return { ...runs.reduce((a, b) => (b.s < a.s ? b : a)), worst: Math.max(...runs.map((r) => r.s)) };
};
const scanRow = (label: string, events: number, args: string[]) => {
  const all = bestTimed(args);
  const one = bestTimed(args, 0);
  row(
    `${label} over ${events / 1e6}M events`,
    `${all.s.toFixed(2)} s (best of 3, worst ${all.worst.toFixed(2)}) on ${cores} cores, ${all.rssMiB.toFixed(0)} MiB peak; ${perCore(events, all)}`,
    `one thread: ${one.s.toFixed(2)} s (worst ${one.worst.toFixed(2)}), ${one.rssMiB.toFixed(0)} MiB; ${perCore(events, one)}`,
    "at most 2.5 s (1M); peak at most 256 MiB",
  );
  return all;
};
const big = writeBig(QUERY_EVENTS);
const count1 = scanRow("query --count", QUERY_EVENTS, ["query", big, "--count"]);
const export1 = scanRow("export --format jsonl", QUERY_EVENTS, ["export", big, "--format", "jsonl"]);
const varied = writeBig(QUERY_EVENTS, true);
const variedAll = bestTimed(["export", varied, "--format", "jsonl"]);
const variedOne = timed(["export", varied, "--format", "jsonl"], 0);
row(
  `the same over ${QUERY_EVENTS / 1e6}M events that share nothing`,
  `${variedAll.s.toFixed(2)} s (best of 3, worst ${variedAll.worst.toFixed(2)}), ${variedAll.rssMiB.toFixed(0)} MiB peak; ${perCore(QUERY_EVENTS, variedAll)}`,
  `one thread: ${variedOne.s.toFixed(2)} s, ${variedOne.rssMiB.toFixed(0)} MiB`,
  "none set: each line rendered whole",
);
rmSync(varied);
const bigger = writeBig(BIG_QUERY_EVENTS);
const count10 = timed(["query", bigger, "--count"]);
const export10 = timed(["export", bigger, "--format", "jsonl"]);
const growth = (a: { rssMiB: number }, b: { rssMiB: number }) => `${(((b.rssMiB - a.rssMiB) / a.rssMiB) * 100).toFixed(0)}%`;
row(
  `the same over ${BIG_QUERY_EVENTS / 1e6}M events: query --count; export --format jsonl`,
  `${count10.s.toFixed(1)} s, ${count10.rssMiB.toFixed(0)} MiB; ${export10.s.toFixed(1)} s, ${export10.rssMiB.toFixed(0)} MiB`,
  `peak memory vs 1M: ${growth(count1, count10)}; ${growth(export1, export10)}`,
  "memory flat: within 20% of 1M",
);
const sel = timed(["query", big, "--module", "mod_7", "--count"]);
row(`query --module X over ${QUERY_EVENTS / 1e6}M events (${sel.out} match)`, `${sel.s.toFixed(2)} s, ${sel.rssMiB.toFixed(0)} MiB peak`, `every event decoded: ${count1.s.toFixed(2)} s, ${count1.rssMiB.toFixed(0)} MiB`, "10M events in seconds, flat memory");
const sel10 = timed(["query", bigger, "--module", "mod_7", "--count"]);
row(`the same over ${BIG_QUERY_EVENTS / 1e6}M events (${sel10.out} match)`, `${sel10.s.toFixed(2)} s, ${sel10.rssMiB.toFixed(0)} MiB peak`, `every event decoded: ${count10.s.toFixed(1)} s, ${count10.rssMiB.toFixed(0)} MiB`, "in seconds, flat memory");

rmSync(dir, { recursive: true, force: true });
const widths = [0, 1, 2, 3].map((i) => Math.max(...[["metric", "dmrec", "baseline", "target"], ...rows].map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(line(["metric", "dmrec", "baseline", "target"]));
for (const r of rows) console.log(line(r));
