// Floods of failing calls against the real recorder on this machine's kernel
// (raw-syscalls hook), as an attacker who wants to hide one call would make
// them: one process at full rate, many processes, a new name every call, an
// unprivileged user, all at once. Every call must be accounted for exactly
// (an event, an aggregate count, or a loss), the call hidden in the middle
// must be an event of its own, and signals, rotation and crashes must not
// wait for the flood to end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, captureItems, DM_CALL, DMREC, dmrec, hex, query, readUntil, requireRoot, runJson } from "../support/recorder.ts";

requireRoot();

const NOBODY = "65534";
const UNLIMITED = ["key", "process", "global", "toctou-process", "toctou-global"].flatMap((b) => [`--budget-${b}`, "unlimited"]);
const dir = mkdtempSync(join(tmpdir(), "dmrec-flood-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface FloodResult {
  pid: number;
  calls: number;
  failed: number;
  ns: number;
}

interface Stats {
  totals: { calls: number; events: number; aggregated: number; lost: number };
  groups: { pid: number | null; comm: string | null; name: string | null; errno: string | null; calls: number; events: number; aggregated: number }[];
}

function stats(...args: string[]): Stats {
  const r = dmrec("stats", ...args, "--json");
  if (r.code !== 0 && r.code !== 4) throw new Error(`dmrec stats ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Stats;
}

/** Calls a process made, as stats counts them: every group of that pid. */
const callsOf = (s: Stats, pid: number) => s.groups.filter((g) => g.pid === pid).reduce((n, g) => n + g.calls, 0);

async function startRecording(out: string, args: string[] = []) {
  const rec = Bun.spawn([DMREC, "record", "--out", out, ...args], { stderr: "pipe", stdout: "ignore" });
  const { text, reader } = await readUntil(rec.stderr, /recording to .* \(hook [^)]*\)/, 20_000);
  return {
    rec,
    /** the rest of stderr, once the recorder has exited */
    async stderr() {
      let all = text;
      for (let c = await reader.read(); !c.done; c = await reader.read()) all += new TextDecoder().decode(c.value);
      return all;
    },
  };
}

const flood = (n: number, name: string, prefix: string[] = []) =>
  Bun.spawn([...prefix, DM_CALL, "--flood", String(n), hex(ascii(name)), "0"], { stdout: "pipe", stderr: "pipe" });

async function resultOf(p: ReturnType<typeof flood>): Promise<FloodResult> {
  const code = await p.exited;
  const out = await new Response(p.stdout).text();
  if (code !== 0) throw new Error(`dm_call failed (${code}): ${await new Response(p.stderr).text()}`);
  return JSON.parse(out) as FloodResult;
}

describe("every kind of flood at once, with one call hidden in the middle", () => {
  const out = join(dir, "all.cbor.zst");
  let one: FloodResult, many: FloodResult[], names: FloodResult, unprivileged: FloodResult;
  let hidden: { pid: number; name_ptr: string; ret: number };
  let summary: string;
  let s: Stats;

  beforeAll(async () => {
    const r = await startRecording(out);
    const floods = {
      one: flood(1_000_000, "flood_one"),
      many: Array.from({ length: 16 }, () => flood(25_000, "flood_many")),
      names: Bun.spawn([DM_CALL, "--flood-names", "200000", hex(ascii("newname_")), "0"], { stdout: "pipe", stderr: "pipe" }),
      unprivileged: flood(300_000, "flood_nobody", ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"]),
    };
    await Bun.sleep(200);
    hidden = runJson<{ pid: number; name_ptr: string; ret: number }>([DM_CALL, hex(ascii("hidden_call")), "0"])[0]!;
    one = await resultOf(floods.one);
    many = await Promise.all(floods.many.map(resultOf));
    names = await resultOf(floods.names);
    unprivileged = await resultOf(floods.unprivileged);
    // One harvest period (1 s at default settings) after the last call.
    await Bun.sleep(1500);
    r.rec.kill("SIGINT");
    expect(await r.rec.exited).toBe(0);
    summary = await r.stderr();
    s = stats(out);
    console.log(`all floods at once: ${JSON.stringify(s.totals)}; ${summary.trim().split("\n").at(-1)}`);
  }, 120_000);

  test("the flooders really made their calls", () => {
    expect(one.calls).toBe(1_000_000);
    expect(many.map((m) => m.calls)).toEqual(Array(16).fill(25_000));
    expect(names.calls).toBe(200_000);
    expect(unprivileged.calls).toBe(300_000);
  });

  test("stats accounts for every call of every flooder exactly, and nothing was lost", () => {
    expect(s.totals.lost).toBe(0);
    expect(callsOf(s, one.pid)).toBe(one.calls);
    for (const m of many) expect(callsOf(s, m.pid)).toBe(m.calls);
    expect(callsOf(s, names.pid)).toBe(names.calls);
    expect(callsOf(s, unprivileged.pid)).toBe(unprivileged.calls);
    expect(s.totals.calls).toBe(s.totals.events + s.totals.aggregated + s.totals.lost);
    // Nothing else on this machine calls delete_module during the test.
    const expected = one.calls + many.length * 25_000 + names.calls + unprivileged.calls + 1;
    expect(s.totals.calls).toBe(expected);
  });

  test("most of each flood is aggregated, and its first calls are events", () => {
    const g = s.groups.find((x) => x.pid === one.pid && x.name === "flood_one")!;
    expect(g.events).toBeGreaterThan(0);
    expect(g.aggregated).toBeGreaterThan(one.calls * 0.99);
    // Its name stays known although the new-name flood fills the key table every period.
    const u = s.groups.filter((x) => x.pid === unprivileged.pid);
    expect(u.length).toBe(1);
    expect(u[0]).toMatchObject({ name: "flood_nobody", errno: "ENOSYS", calls: unprivileged.calls });
  });

  test("the call hidden in the middle is an individual event", () => {
    const events = query(out, "--module", "hidden_call", "--events-only");
    expect(events.length).toBe(1);
    expect(events[0]).toMatchObject({ type: "event", pid: hidden.pid, name_ptr: hidden.name_ptr, ret: hidden.ret, comm: "dm_call" });
  });

  test("the unprivileged flood is attributed to its user", () => {
    const agg = query(out, "--pid", String(unprivileged.pid)).filter((r) => r.type === "aggregate");
    expect(agg.length).toBeGreaterThan(0);
    for (const a of agg) expect(a).toMatchObject({ uid: 65534, euid: 65534, cap_sys_module: false });
  });

  test("the new-name flood fills the key table and spills into per-process counts, still exact", () => {
    const scopes = new Set(query(out, "--pid", String(names.pid)).map((r) => (r.type === "aggregate" ? r.scope : "event")));
    expect(scopes).toContain("call");
    expect(scopes).toContain("process");
  });

  test("the header says the budget the kernel side enforced, per period", () => {
    expect(captureItems(out)[0]!.budget).toEqual({ period_ms: 1000, key: 8, process: 64, global: 8192, toctou_process: 1024, toctou_global: 8192 });
  });

  test("the summary line and the capture agree; the capture verifies", () => {
    const m = /(\d+) events, (\d+) aggregated, (\d+) lost/.exec(summary)!;
    expect([Number(m[1]), Number(m[2]), Number(m[3])]).toEqual([s.totals.events, s.totals.aggregated, s.totals.lost]);
    const v = dmrec("verify", out);
    expect(v.code).toBe(0);
  });
});

describe("budgets raised", () => {
  test("with every budget unlimited, every call of a flood is an event of its own", async () => {
    const out = join(dir, "unlimited.cbor.zst");
    const r = await startRecording(out, UNLIMITED);
    // Paced: what the consumer keeps up with here, whatever else the machine is doing.
    const f = await resultOf(Bun.spawn([DM_CALL, "--flood-rate", "50000", "100000", hex(ascii("every_call")), "0"], { stdout: "pipe", stderr: "pipe" }));
    await Bun.sleep(1500);
    r.rec.kill("SIGINT");
    expect(await r.rec.exited).toBe(0);
    const s = stats(out, "--pid", String(f.pid));
    expect(s.totals).toEqual({ calls: 50_000, events: 50_000, aggregated: 0, lost: 0 });
    // 50,000 records of 1,528 bytes go round the 8 MiB ring nine times, each lap ending
    // in a record that wraps round its end (ring.ts copies it whole): all read intact.
    expect(s.groups).toEqual([expect.objectContaining({ pid: f.pid, comm: "dm_call", name: "every_call", errno: "ENOSYS", events: 50_000 })]);
    expect(dmrec("verify", out).code).toBe(0);
    expect(captureItems(out)[0]!.budget).toEqual({ period_ms: 1000, key: 0, process: 0, global: 0, toctou_process: 0, toctou_global: 0 });
  });

  test("a budget per second is enforced per period: --segment-ms 200 gives a fifth of it", async () => {
    const out = join(dir, "period.cbor.zst");
    const r = await startRecording(out, ["--segment-ms", "200", "--budget-key", "50", "--budget-process", "1000"]);
    const f = await resultOf(flood(100_000, "one_period"));
    await Bun.sleep(700);
    r.rec.kill("SIGINT");
    expect(await r.rec.exited).toBe(0);
    const header = captureItems(out)[0]!;
    expect(header.budget).toMatchObject({ period_ms: 200, key: 10, process: 200 });
    const s = stats(out, "--pid", String(f.pid));
    expect(s.totals.calls).toBe(100_000);
    // 10 events per 200 ms period for the key, over the periods the flood spanned
    const g = s.groups[0]!;
    expect(g.events % 10).toBe(0);
    expect(g.events).toBeLessThanOrEqual(10 * Math.ceil(f.ns / 200e6 + 1));
  });
});

describe("during a flood", () => {
  // Unlimited budgets: more events than the consumer takes, so the rings never empty.
  for (const [what, extra] of [["default budgets", []], ["budgets unlimited", UNLIMITED]] as const) {
    test(`SIGTERM is acted on within 250 ms and the capture is sealed (${what})`, async () => {
      const out = join(dir, `sigterm-${extra.length}.cbor.zst`);
      const r = await startRecording(out, [...extra]);
      const f = flood(20_000_000, "flood_sigterm");
      await Bun.sleep(1000);
      const t0 = performance.now();
      r.rec.kill("SIGTERM");
      const code = await r.rec.exited;
      const ms = performance.now() - t0;
      f.kill("SIGKILL");
      await f.exited;
      console.log(`SIGTERM during a flood (${what}): recorder exited ${ms.toFixed(0)} ms later`);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(250);
      expect(dmrec("verify", out).code).toBe(0);
      expect(stats(out).totals.aggregated).toBeGreaterThan(0);
    });
  }

  test("SIGHUP rotates within 250 ms, and --duration ends the recording on time", async () => {
    const out = join(dir, "hup.cbor.zst");
    const t0 = Date.now();
    const r = await startRecording(out, ["--duration", "3s"]);
    const started = Date.now();
    const f = flood(20_000_000, "flood_hup");
    await Bun.sleep(1000);
    const hupAt = BigInt(Date.now()) * 1_000_000n;
    r.rec.kill("SIGHUP");
    const code = await r.rec.exited;
    const ended = Date.now();
    f.kill("SIGKILL");
    await f.exited;
    expect(code).toBe(0);
    const second = captureItems(join(dir, "hup.000002.cbor.zst"))[0]!;
    const lateMs = Number((second.start_ns as bigint) - hupAt) / 1e6;
    // --duration counts from the attach; the start-up before it is the recorder's own
    const overMs = ended - started - 3000;
    console.log(`during a flood: SIGHUP rotated after ${lateMs.toFixed(0)} ms; --duration 3s ended ${overMs} ms late (start-up ${started - t0} ms)`);
    expect(lateMs).toBeLessThan(250);
    expect(overMs).toBeLessThan(250);
    expect(dmrec("verify", out, join(dir, "hup.000002.cbor.zst")).code).toBe(0);
  });

  test("--rotate-every rotates on time", async () => {
    const out = join(dir, "rot.cbor.zst");
    const r = await startRecording(out, ["--rotate-every", "1s"]);
    const f = flood(20_000_000, "flood_rotate");
    await Bun.sleep(4300);
    r.rec.kill("SIGINT");
    expect(await r.rec.exited).toBe(0);
    f.kill("SIGKILL");
    await f.exited;
    const headers = readdirSync(dir)
      .filter((n) => n.startsWith("rot."))
      .map((n) => ({ file: join(dir, n), header: captureItems(join(dir, n))[0]! }))
      .sort((a, b) => (a.header.set as { file_index: number }).file_index - (b.header.set as { file_index: number }).file_index);
    const files = headers.map((h) => h.file);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const starts = headers.map((h) => BigInt(h.header.start_ns as bigint));
    const gaps = starts.slice(1).map((t, i) => Number(t - starts[i]!) / 1e6);
    console.log(`--rotate-every 1s during a flood: files started ${gaps.map((g) => g.toFixed(0)).join(", ")} ms apart`);
    for (const g of gaps) {
      expect(g).toBeGreaterThan(750);
      expect(g).toBeLessThan(1250);
    }
    expect(dmrec("verify", ...files).code).toBe(0);
  });

  test("kill -9: every call up to the last closed segment is accounted for", async () => {
    const out = join(dir, "killed.cbor.zst");
    const r = await startRecording(out);
    const done = await resultOf(flood(500_000, "flood_before_kill"));
    // Two harvest periods: the flood's counts are in a closed segment.
    await Bun.sleep(2200);
    const during = flood(20_000_000, "flood_during_kill");
    await Bun.sleep(500);
    r.rec.kill("SIGKILL");
    await r.rec.exited;
    during.kill("SIGKILL");
    await during.exited;
    const s = stats(out);
    expect(callsOf(s, done.pid)).toBe(done.calls);
    expect(s.totals.lost).toBe(0);
    expect(dmrec("verify", out).code).toBe(13); // unsealed, the rest intact
  });
});
