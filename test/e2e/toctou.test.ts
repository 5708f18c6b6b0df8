// A real TOCTOU race on this machine's kernel (raw-syscalls hook): one thread
// of dm_call calls delete_module in a loop on a buffer that its other thread
// keeps flipping between two names. The kernel never copies the name here
// (ENOSYS), so the verdict rests on the entry and exit reads.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ascii, DM_CALL, dmrec, hex, query, requireRoot, runJson, startRecorder } from "../support/recorder.ts";

requireRoot();

const CALLS = 5_000;
/** A busy machine may keep the flipping thread off the CPU for a whole round. */
const MAX_ROUNDS = 10;
let capture: string;
let dir: string;
const helpers: { pid: number; calls: number }[] = [];
let lost: number;
let events: Record<string, unknown>[];

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
  lost = Number(/(\d+) lost/.exec(stopped.stderr)![1]);
  events = query(capture, ...helpers.flatMap((h) => ["--pid", String(h.pid)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every call is accounted for: recorded or counted as lost", () => {
  for (const h of helpers) expect(h.calls).toBe(CALLS);
  expect(events.length + lost).toBe(CALLS * helpers.length);
  expect(events.length).toBeGreaterThan(0);
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

test("query --toctou returns exactly the flagged events", () => {
  const flagged = query(capture, "--toctou");
  expect(flagged).toEqual(events.filter((e) => e.toctou === true));
  expect(Number(dmrec("query", capture, "--toctou", "--count").stdout.trim())).toBe(flagged.length);
});
