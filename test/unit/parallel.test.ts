// query and export give the same bytes, messages and exit codes whether worker threads
// decode (DMREC_WORKERS=N) or the main thread does (DMREC_WORKERS=0): in every line
// format, with filters and --limit, over damaged segments, a cut-off end, captures
// merged with others that overlap in time, and a reader that goes away early.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SegmentItem } from "../../src/event.ts";
import { anatomy, header, loss, ROOT, sampleAggregates, sampleEvents, tempDir, writeCapture } from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-parallel-");
afterAll(temp.cleanup);

function dmrec(args: string[], workers: number) {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), ...args], { env: { ...process.env, DMREC_WORKERS: String(workers) } });
  return { code: r.exitCode, stdout: r.stdout.toString("hex"), stderr: r.stderr.toString() };
}

/** Records of every kind, out of order within a few ms as rings hand them over, hostile names included. */
function items(n: number, base: bigint, host: number): SegmentItem[] {
  const out: SegmentItem[] = [];
  const samples = [...sampleEvents(8), ...sampleAggregates()];
  for (let i = 0; i < n; i++) {
    const ts_ns = base + BigInt(i) * 1000n + BigInt((i * 7919) % 5000);
    if (i % 97 === 0) out.push({ ...loss, ts_ns, count: i });
    else if (i % 53 === 0) out.push({ ...samples[i % samples.length]!, ts_ns } as SegmentItem);
    else if (i % 31 === 0) out.push(makeAggregate({ ts_ns, last_ts_ns: ts_ns + 5000n, count: i, name: latin1(`=cmd|${i}`) }));
    else {
      const name = latin1(i % 11 === 0 ? `"\\x1b[8m${i}` : `mod_${i % 40}`);
      out.push(makeEvent({ ts_ns, pid: 100 + (i % 300) + host, name, name_entry: name, name_exit: name, name_kernel: null, comm: i % 13 === 0 ? latin1("r\xffm") : "rmmod" }));
    }
  }
  return out;
}

let whole: string;
let damaged: string;
let cut: string;
let other: string;
beforeAll(() => {
  whole = temp.path("whole.cbor.zst");
  writeCapture(whole, items(30_000, 1764118674000000000n, 0), { segmentEvents: 500 });
  // Another host's capture over the same time: merged alongside, rendered in the main thread.
  other = temp.path("other.cbor.zst");
  writeCapture(other, items(5_000, 1764118674000500000n, 7), { segmentEvents: 300, header: { ...header, host: { ...header.host, hostname: "other-host" } } });
  const bytes = readFileSync(whole);
  const a = anatomy(bytes);
  const bad = bytes.slice();
  // A flipped byte in the middle of segment 20's compressed data, and in segment 41's.
  for (const s of [a.segments[19]!, a.segments[40]!]) bad[s.data.offset + Math.floor(s.data.length / 2)]! ^= 0x55;
  damaged = temp.path("damaged.cbor.zst");
  writeFileSync(damaged, bad);
  cut = temp.path("cut.cbor.zst");
  writeFileSync(cut, bytes.subarray(0, a.segments[50]!.data.offset + 100));
});

const FORMATS = ["jsonl", "json", "csv", "ecs", "ocsf", "timesketch"];

describe("workers or not, the same answer", () => {
  const cases: [string, () => string[]][] = [
    ...FORMATS.map((f): [string, () => string[]] => [`export --format ${f}`, () => ["export", whole, "--format", f]]),
    ["query --count", () => ["query", whole, "--count"]],
    ["query --format jsonl --module 'mod_1*' --since ... --until ...", () => ["query", whole, "--format", "jsonl", "--module", "mod_1*", "--since", "2025-11-26T00:57:54.005Z", "--until", "2025-11-26T00:57:54.020Z"]],
    ["query --format csv --limit 777", () => ["query", whole, "--format", "csv", "--limit", "777"]],
    ["export --events-only --format json", () => ["export", whole, "--format", "json", "--events-only"]],
    ["query --count over damaged segments", () => ["query", damaged, "--count"]],
    ["export --format jsonl over damaged segments", () => ["export", damaged, "--format", "jsonl"]],
    ["export --format ecs of a cut-off file", () => ["export", cut, "--format", "ecs"]],
    ["export --format timesketch of two hosts merged", () => ["export", whole, other, "--format", "timesketch"]],
    ["query --count of two hosts", () => ["query", other, whole, damaged, "--count"]],
    ["export --format csv matching nothing", () => ["export", whole, "--format", "csv", "--pid", "1"]],
  ];
  test.each(cases)("%s", (_label, args) => {
    const one = dmrec(args(), 0);
    for (const workers of [1, 3]) {
      const many = dmrec(args(), workers);
      expect(many.stderr).toBe(one.stderr);
      expect(many.code).toBe(one.code);
      expect(many.stdout === one.stdout).toBe(true);
    }
    expect(one.stdout.length).toBeGreaterThan(0);
  });

  test("the damaged file's damage is reported as in one thread: its first place, how many", () => {
    const r = dmrec(["query", damaged, "--count"], 2);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/corrupt segment 20 \(zstd: .*\) \(the first of 2 damaged places\) at byte \d+\n$/);
  });

  test("DMREC_WORKERS that is not a number: one line, exit 2, nothing written", () => {
    const r = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), "export", whole, "--format", "jsonl"], { env: { ...process.env, DMREC_WORKERS: "two" } });
    expect(r.stderr.toString()).toBe('dmrec: DMREC_WORKERS: expected a number of worker threads (0 for none), got "two"\n');
    expect(r.exitCode).toBe(2);
    expect(r.stdout.length).toBe(0);
    const table = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), "query", whole], { env: { ...process.env, DMREC_WORKERS: "-1" } });
    expect(table.exitCode).toBe(2);
  });

  test("a reader that goes away early (| head) ends the workers too", () => {
    const p = Bun.spawnSync(["sh", "-c", `DMREC_WORKERS=2 ${process.execPath} ${join(ROOT, "src/main.ts")} export ${whole} --format jsonl | head -c 1000 | wc -c`]);
    expect(p.stdout.toString().trim()).toBe("1000");
    expect(p.exitCode).toBe(0);
  });
});
