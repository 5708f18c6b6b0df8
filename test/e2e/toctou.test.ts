// A real TOCTOU race on this machine's kernel (raw-syscalls hook): one thread
// of dm_call calls delete_module in a loop on a buffer that its other thread
// keeps flipping between two names. The kernel never copies the name here
// (ENOSYS), so the verdict rests on the entry and exit reads.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ascii, DM_CALL, dmrec, hex, query, requireRoot, runJson, startRecorder } from "../support/recorder.ts";

requireRoot();

// Quick calls: enough of them that the round outlasts a scheduler tick, so the
// flipping thread runs even when it shares a CPU with the calling one.
const CALLS = 50_000;
/** A busy machine may keep the flipping thread off the CPU for a whole round. */
const MAX_ROUNDS = 10;
let capture: string;
let dir: string;
const helpers: { pid: number; calls: number }[] = [];
let events: Record<string, unknown>[];
let aggregates: Record<string, unknown>[];
let totals: { calls: number; events: number; aggregated: number; lost: number };

beforeAll(async () => {
  const rec = await startRecorder();
  [capture, dir] = [rec.capture, rec.dir];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    helpers.push(runJson<{ pid: number; calls: number }>([DM_CALL, "--race", String(CALLS), hex(ascii("dummy")), hex(ascii("rootkit"))])[0]!);
    await Bun.sleep(400); // the segment is on disk
    if (Number(dmrec("query", capture, "--toctou", "--count").stdout) > 0) break;
  }
  const stopped = await rec.stop();
  if (stopped.exitCode !== 0) throw new Error(`recorder failed: ${stopped.stderr}`);
  const mine = query(capture, ...helpers.flatMap((h) => ["--pid", String(h.pid)]));
  events = mine.filter((r) => r.type === "event");
  aggregates = mine.filter((r) => r.type === "aggregate");
  totals = JSON.parse(dmrec("stats", capture, "--json", ...helpers.flatMap((h) => ["--pid", String(h.pid)])).stdout).totals;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every call is accounted for: an event, or counted in an aggregate; none lost", () => {
  for (const h of helpers) expect(h.calls).toBe(CALLS);
  expect(totals.lost).toBe(0);
  expect(totals.events).toBe(events.length);
  expect(totals.events + totals.aggregated).toBe(CALLS * helpers.length);
  expect(events.length).toBeGreaterThan(0);
});

test("racing calls beyond their budget are aggregated apart from the calls whose reads agreed", () => {
  // The kernel side groups by its own verdict; each aggregate carries its first call's reads.
  for (const a of aggregates) {
    const differ = a.name_entry_hex !== a.name_exit_hex;
    expect(a.toctou).toBe(differ);
  }
});

test("an event is flagged exactly when its two reads differ; the catch rate is reported", () => {
  let caught = 0;
  for (const ev of events) {
    expect(ev.name_entry_err).toBeNull();
    expect(ev.name_exit_err).toBeNull();
    const differ = ev.name_entry_hex !== ev.name_exit_hex;
    expect(ev.toctou).toBe(differ);
    expect(ev.toctou_reason).toEqual(differ ? ["entry!=exit"] : []);
    if (differ) caught++;
  }
  console.log(`TOCTOU race on this machine: caught ${caught} races out of ${events.length} calls (${helpers.length} round(s))`);
  expect(caught).toBeGreaterThan(0);
});

test("query --toctou returns exactly the flagged events and aggregates, and counts their calls", () => {
  const flagged = query(capture, "--toctou");
  const expected = [...events, ...aggregates].filter((e) => e.toctou === true);
  expect(flagged.length).toBe(expected.length);
  expect(new Set(flagged.map((f) => JSON.stringify(f)))).toEqual(new Set(expected.map((e) => JSON.stringify(e))));
  const calls = flagged.reduce((n, f) => n + (f.type === "event" ? 1 : (f.count as number)), 0);
  expect(Number(dmrec("query", capture, "--toctou", "--count").stdout.trim())).toBe(calls);
});
