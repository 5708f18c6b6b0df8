// record under Deno (deno task record, through Deno.dlopen), on the real kernel as root,
// beside the executable (Bun) recording the same calls: both captures must hold the same
// events, field by field, but for each recorder's own clock readings.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, DENO_RECORD, DM_CALL, dmrec, hex, jsonl, readUntil, requireRoot, runJson, startRecorder, type Stopped } from "../support/recorder.ts";

requireRoot();

const CALLS = [ascii("dummy"), ascii("nf_tables"), Uint8Array.of(0x66, 0x6f, 0x80, 0xff)];
/** What each recorder reads from its own clock when its program runs. */
const OWN_CLOCK = ["time", "ts_ns", "boot_ns", "duration_ns"];

let pid = 0;
let bun: Stopped & { dir: string; capture: string };
let deno: Stopped & { dir: string; capture: string };

beforeAll(async () => {
  const [b, d] = await Promise.all([startRecorder(), startRecorder([], DENO_RECORD)]);
  pid = runJson<{ pid: number }>([DM_CALL, ...CALLS.flatMap((c) => [hex(c), "0"])])[0]!.pid;
  [bun, deno] = await Promise.all([b.stop("SIGINT").then((s) => ({ ...s, ...b })), d.stop("SIGINT").then((s) => ({ ...s, ...d }))]);
}, 60_000);
afterAll(() => {
  for (const r of [bun, deno]) if (r) rmSync(r.dir, { recursive: true, force: true });
});

const events = (capture: string) => jsonl(dmrec("query", capture, "--pid", String(pid), "--format", "jsonl").stdout);
const withoutClock = (e: Record<string, unknown>) => Object.fromEntries(Object.entries(e).filter(([k]) => !OWN_CLOCK.includes(k)));

test("Deno's recorder stops on SIGINT with the same summary line as Bun's", () => {
  expect(deno.exitCode).toBe(0);
  expect(deno.stderr).toMatch(/c\.cbor\.zst: \d+ events, \d+ aggregated, 0 lost, \d+ bytes\n$/);
  expect(bun.exitCode).toBe(0);
});

test("both captures hold dm_call's calls with the same fields and values, clocks aside", () => {
  const fromDeno = events(deno.capture);
  const fromBun = events(bun.capture);
  expect(fromDeno.length).toBe(CALLS.length);
  expect(fromDeno.map((e) => e.name_entry_hex)).toEqual(CALLS.map(hex));
  expect(fromDeno.map(withoutClock)).toEqual(fromBun.map(withoutClock));
  expect(Object.keys(fromDeno[0]!)).toEqual(Object.keys(fromBun[0]!));
});

test("Deno's capture is sealed, signed and verifies, with the header Bun writes", () => {
  const v = dmrec("verify", deno.capture);
  expect(v.code).toBe(0);
  const info = (capture: string) => JSON.parse(dmrec("info", capture, "--json").stdout)[0];
  const [d, b] = [info(deno.capture), info(bun.capture)];
  expect(d.sealed).toBe(true);
  expect(d.header.host).toEqual(b.header.host);
  expect(d.header.hook).toBe(b.header.hook);
  expect(d.header.budget).toEqual(b.header.budget);
  expect(d.header.signing.scheme).toBe(b.header.signing.scheme);
});

test("under Deno, SIGHUP rotates and SIGTERM is acted on within 500 ms, the set sealed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dmrec-deno-"));
  try {
    const out = join(dir, "c.cbor.zst");
    const rec = Bun.spawn([...DENO_RECORD, "--out", out, "--segment-ms", "200"], { stdout: "ignore", stderr: "pipe" });
    const { reader } = await readUntil(rec.stderr, /recording to .* \(hook [^)]*\)/, 30_000);
    rec.kill("SIGHUP");
    await readUntil(reader, /recording to .*000002/, 10_000);
    runJson([DM_CALL, hex(ascii("dummy")), "0"]);
    await Bun.sleep(300);
    const t0 = performance.now();
    rec.kill("SIGTERM");
    const code = await rec.exited;
    const ms = performance.now() - t0;
    console.log(`under Deno, SIGTERM: recorder exited ${ms.toFixed(0)} ms later`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(500);
    expect(readdirSync(dir).sort()).toEqual(["c.000002.cbor.zst", "c.cbor.zst"]);
    expect(dmrec("verify", out, join(dir, "c.000002.cbor.zst")).code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("deno task dmrec (the offline sandbox) refuses record and doctor at once, naming what it withholds (exit 6)", () => {
  for (const command of [["record", "--out", join(tmpdir(), "never.cbor.zst")], ["doctor"]]) {
    const r = Bun.spawnSync(["node_modules/.bin/deno", "task", "-q", "dmrec", ...command]);
    expect(r.exitCode).toBe(6);
    expect(r.stderr.toString()).toBe(
      `dmrec: under Deno, ${command[0]} needs every permission (not granted: net, sys, run, ffi); run it with ${command[0] === "record" ? "deno task record" : "deno run -A src/main.ts doctor"}\n`,
    );
  }
});
