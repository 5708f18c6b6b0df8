// Crafted captures against the compiled executable (dist/dmrec), as an
// analyst handed one would run it: the files of issue 9 (a 6.8 KB frame of
// 1,023 maps of 65,535 empty arrays, which took 5 GB; ten such frames, 20 GB;
// 8.4 million tiny items in one frame), the same without a declared content
// size, and frames that stay within every size limit but spend their budgets
// of items and data items, ten of them each. query, export, stats,
// info and verify must each answer with one clear line naming the file, the
// segment and the byte, or a reported partial result, in bounded time and
// with peak memory (RSS) at most 256 MiB, never killed. A watchdog kills a
// run that passes twice that, so that a regression fails instead of eating
// the machine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { encodeItem, encodeSegmentHash, encodeMetaInfo } from "../../src/capture/encode_checked.ts";
import { zstdCompress } from "../../src/runtime.ts";
import { concat, header, skippableFrame, tempDir, writeCapture } from "../support/captures.ts";
import { makeEvent } from "../support/events.ts";
import { DMREC } from "../support/recorder.ts";

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const WATCHDOG = 2 * LIMIT;
const TIMEOUT_MS = 120_000;

const temp = tempDir("dmrec-hostile-");
afterAll(temp.cleanup);

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const text = (s: string) => [0x60 | s.length, ...utf8(s)];

function repeat(item: number[], bytes: number): Uint8Array {
  const one = new Uint8Array(item);
  const n = Math.floor(bytes / one.length);
  const out = new Uint8Array(one.length * n);
  for (let i = 0; i < n; i++) out.set(one, i * one.length);
  return out;
}

/** `content` as one zstd frame without Frame_Content_Size, as the zstd CLI writes from a pipe. */
function streamed(content: Uint8Array): Uint8Array {
  const r = Bun.spawnSync(["zstd", "-q", "-19", "-c"], { stdin: content });
  if (r.exitCode !== 0) throw new Error(`zstd: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** A trailer that makes verify read its segment (its counts and hash are wrong: verify says so too). */
function trailer(index: number): Uint8Array {
  const info = encodeMetaInfo({ type: "segment", index, events: 0, losses: 0, lost_calls: 0, aggregates: 0, aggregated_calls: 0, clock_steps: 0, first_ts_ns: null, last_ts_ns: null, modules: [], modules_complete: true });
  return skippableFrame(concat([info, encodeSegmentHash({ hash: new Uint8Array(32), next_key: null, signature: null }, 1)]));
}

const files: Record<string, string> = {};
function capture(name: string, frame: Uint8Array, frames: number, withTrailers = false): void {
  const path = temp.path(`${name}.cbor.zst`);
  const parts = [zstdCompress(encodeItem(header))];
  for (let i = 1; i <= frames; i++) parts.push(frame, ...(withTrailers ? [trailer(i)] : []));
  writeFileSync(path, concat(parts));
  files[name] = path;
}

beforeAll(() => {
  // Issue 9's: {"type": "x", "a": [[] x 65535]} x 1023, 64 MiB of content in 6.8 KB.
  const arrays = repeat([0xa2, ...text("type"), ...text("x"), ...text("a"), 0x99, 0xff, 0xff, ...new Array(65535).fill(0x80)], 1023 * 65544);
  capture("arrays", zstdCompress(arrays, 19), 1);
  capture("arrays-x10", zstdCompress(arrays, 19), 10);
  capture("arrays-streamed-x10", streamed(arrays), 10, true);
  // 8.4 million {"type": ""}.
  const tiny = repeat([0xa1, ...text("type"), 0x60], 8_400_000 * 7);
  capture("tiny", zstdCompress(tiny, 19), 1);
  // Within every size limit: 17 MB of arrays of 4000 [] (the data-item budget), 16.8 MB of tiny items (the item budget).
  const budget = zstdCompress(repeat([0xa2, ...text("type"), ...text("x"), ...text("a"), 0x99, 0x0f, 0xa0, ...new Array(4000).fill(0x80)], 17_000_000), 19);
  capture("budget-x10", budget, 10, true);
  capture("items-x10", zstdCompress(repeat([0xa1, ...text("type"), 0x60], 16_800_000), 19), 10, true);
  expect(readFileSync(files.arrays!).length).toBeLessThan(8000);
});

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stdoutBytes: number;
  stderr: string;
  maxRss: number;
  ms: number;
}

/**
 * Runs dist/dmrec under /usr/bin/time, whose peak RSS is the executable's
 * own (a child's ru_maxrss on Linux would start from the test runner's, which
 * it is forked from), with a watchdog on its resident memory.
 */
async function dmrec(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  const rssFile = temp.path("rss");
  const p = Bun.spawn(["/usr/bin/time", "-f", "%M", "-o", rssFile, DMREC, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const kill = () => {
    // /usr/bin/time's child is dmrec.
    for (const pid of readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, "utf8").trim().split(" ").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
  };
  const watch = setInterval(() => {
    try {
      for (const pid of readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, "utf8").trim().split(" ").filter(Boolean)) {
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (rss && Number(rss[1]) * 1024 > WATCHDOG) kill();
      }
    } catch {
      // Exited meanwhile.
    }
  }, 20);
  const timer = setTimeout(() => {
    try {
      kill();
    } catch {
      // Exited meanwhile.
    }
  }, TIMEOUT_MS);
  // Output is counted, not kept: a render bomb writes gigabytes.
  let stdoutBytes = 0;
  const keep = env.DMREC_DISCARD_OUTPUT === undefined;
  const [stdout, stderr] = await Promise.all([
    keep ? new Response(p.stdout).text() : (async () => { for await (const c of p.stdout) stdoutBytes += c.length; return ""; })(),
    new Response(p.stderr).text(),
  ]);
  await p.exited;
  clearInterval(watch);
  clearTimeout(timer);
  // GNU time says "Command terminated by signal 9" or "Command exited with non-zero status N" before the figure.
  const timeLines = readFileSync(rssFile, "utf8").trim().split("\n");
  const killed = timeLines.find((l) => l.startsWith("Command terminated by signal"));
  return {
    code: killed ? null : p.exitCode,
    signal: killed ?? null,
    stdout,
    stdoutBytes,
    stderr,
    maxRss: Number(timeLines.at(-1)) * 1024,
    ms: performance.now() - started,
  };
}

const COMMANDS: [string, string[], number[]][] = [
  ["query --count", ["query", "--count"], [4]],
  ["export", ["export", "--format", "jsonl"], [4]],
  ["stats", ["stats"], [4]],
  ["info", ["info"], [4, 0]],
  ["verify", ["verify"], [10, 12]],
];

/** The damage line query, export, stats and info end with: the file, the segment, the byte. */
const DAMAGE =
  /^dmrec: \S+: (segment \d+: (declares \d+ bytes of content, over|content exceeds) the \d+-byte limit|invalid item \d+ in segment \d+ \(content byte \d+\): [^\n]+?)( \(the first of \d+ damaged places\))? at byte \d+\n$/;

describe("hostile captures: one clear answer, bounded memory and time", () => {
  for (const name of ["arrays", "arrays-x10", "arrays-streamed-x10", "tiny", "budget-x10", "items-x10"]) {
    for (const [what, args, codes] of COMMANDS) {
      test(`${name}: ${what}`, async () => {
        const r = await dmrec([...args, files[name]!]);
        const said = `${name} ${what}: exit ${r.code}, signal ${r.signal}, ${(r.maxRss / MiB).toFixed(0)} MiB, ${r.ms.toFixed(0)} ms: ${r.stderr}`;
        expect([said, r.signal]).toEqual([said, null]);
        expect([said, codes.includes(r.code!)]).toEqual([said, true]);
        expect([said, r.maxRss <= LIMIT]).toEqual([said, true]);
        if (what === "verify") {
          expect(r.stdout).toMatch(/segment \d+ at byte \d+: /);
        } else if (r.code === 4) {
          expect(r.stderr).toMatch(DAMAGE);
        }
      }, TIMEOUT_MS + 10_000);
    }
  }
});

// A valid capture that renders to many times its size: names of 64 KB of 0xff, each shown
// escaped (4 bytes a byte) and in hex, four times an event. 200 events are 4 KB of capture
// and 300 MB of JSON lines. Memory must not grow with the records: whatever holds a
// segment's or a table's text whole, or leaves it to a lagging collector, shows here.
// Eight times the records in at most 2.5 times the memory: growing with them would be
// about eight, and the collector's timing under load stays well inside. The table holds
// rows to size its columns: at most 1.5 times (holding its first 1,000 rows was 2).
describe("render bombs: memory does not grow with what is rendered", () => {
  const bombs: Record<number, string> = {};
  beforeAll(() => {
    const name = new Uint8Array(64_000).fill(0xff);
    for (const n of [200, 1600]) {
      bombs[n] = temp.path(`bomb-${n}.cbor.zst`);
      writeCapture(bombs[n]!, Array.from({ length: n }, (_, i) => makeEvent({ ts_ns: 1764118674000000000n + BigInt(i), name, name_entry: name, name_exit: name, name_kernel: name })), { segmentEvents: 60 });
    }
  });
  const cases: [string, string[], number][] = [
    ["query (table)", ["query"], 1.5],
    ["export --format jsonl", ["export", "--format", "jsonl"], 2.5],
  ];
  for (const workers of ["0", "2"]) {
    for (const [what, args, growth] of cases) {
      test(`${what}, DMREC_WORKERS=${workers}: 8x the records, at most ${growth}x the peak memory`, async () => {
        const env = { DMREC_WORKERS: workers, DMREC_DISCARD_OUTPUT: "1" };
        const small = await dmrec([...args, bombs[200]!], env);
        const big = await dmrec([...args, bombs[1600]!], env);
        const said = `${(small.maxRss / MiB).toFixed(0)} MiB for 200, ${(big.maxRss / MiB).toFixed(0)} MiB for 1600: ${big.stderr}`;
        expect([said, small.code, big.code]).toEqual([said, 0, 0]);
        expect(big.stdoutBytes).toBeGreaterThan(7.9 * small.stdoutBytes);
        expect(small.stdoutBytes).toBeGreaterThan(40e6);
        expect([said, big.maxRss <= growth * small.maxRss]).toEqual([said, true]);
      }, TIMEOUT_MS);
    }
  }
});
