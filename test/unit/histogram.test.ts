// dmrec stats --histogram: calls per time bucket, every bucket from the first call to the
// last (gaps show), an automatic size or --bucket's, aggregates in their first call's
// bucket with their span marked, and the bar chart and JSON made of it.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BAR_WIDTH, histogramJson, histogramText } from "../../src/commands/stats.ts";
import { UsageError } from "../../src/errors.ts";
import type { LossRecord } from "../../src/event.ts";
import { O_TRUNC } from "../../src/names.ts";
import { matches, parseFilter, type QueryItem } from "../../src/query/filter.ts";
import { AUTO_BUCKETS, bucketFromMs, captureHistogram, HistogramTally, MAX_BUCKETS } from "../../src/query/histogram.ts";
import { ROOT, rng } from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent, makeOverflowAggregate, makeProcessAggregate } from "../support/events.ts";

const MS = 1_000_000n;
const S = 1000n * MS;
const MIN = 60n * S;
/** 2025-11-26T00:57:50Z, a whole 10 s */
const T = 1764118670n * S;

const ok = (ts: bigint, over = {}) => makeEvent({ ts_ns: ts, ...over });
const enoent = (ts: bigint, name = "nosuch") => makeEvent({ ts_ns: ts, pid: 5151, comm: "flooder", name: latin1(name), ret: -2 });
const forced = (ts: bigint) => makeEvent({ ts_ns: ts, pid: 666, comm: "evil", flags: O_TRUNC, forced: true, name: latin1("auditmod") });
const loss = (count: number): LossRecord => ({ type: "loss", ts_ns: T, count, reason: "ringbuf_full" });

function histogram(items: QueryItem[], bucketNs: bigint | null = null, losses: LossRecord[] = []) {
  const t = new HistogramTally(bucketNs);
  for (const it of items) t.add(it);
  for (const l of losses) t.addLoss(l);
  return t.result();
}
const calls = (items: QueryItem[], bucketNs: bigint | null = null) => histogram(items, bucketNs).buckets.map((b) => b.calls);

describe("buckets", () => {
  test("automatic size: the finest of 1ms, 10ms, 100ms, 1s, 10s, 1m, 10m, 1h, 1d that gives at most 40 buckets", () => {
    const size = (span: bigint) => histogram([ok(T), ok(T + span)]).bucket_ns;
    expect(size(0n)).toBe(MS);
    expect(size(39n * MS)).toBe(MS);
    expect(size(40n * MS)).toBe(10n * MS);
    expect(size(70n * MS)).toBe(10n * MS);
    expect(size(30n * S)).toBe(S);
    expect(size(39n * MIN)).toBe(MIN);
    // 41 minutes would be 42 one-minute buckets
    expect(size(41n * MIN)).toBe(10n * MIN);
    expect(size(30n * 60n * MIN)).toBe(60n * MIN);
    expect(size(20n * 24n * 60n * MIN)).toBe(24n * 60n * MIN);
    for (const span of [0n, 7n * MS, 41n * MIN, 1000n * 24n * 60n * MIN]) {
      expect(histogram([ok(T), ok(T + span)]).buckets.length).toBeLessThanOrEqual(AUTO_BUCKETS);
    }
  });

  test("empty buckets between the first call and the last are there: gaps matter", () => {
    const h = histogram([ok(T + 500n * MS), enoent(T + 5n * S), enoent(T + 5n * S + 1n)], S);
    expect(h.buckets.map((b) => [b.start - T, b.calls])).toEqual([[0n, 1], [S, 0], [2n * S, 0], [3n * S, 0], [4n * S, 0], [5n * S, 2]]);
    expect(histogramText(h).split("\n").slice(1, 7)).toEqual([
      // half the fullest bucket: half the width
      `2025-11-26T00:57:50Z      1       0  ${"█".repeat(BAR_WIDTH / 2)}`,
      "2025-11-26T00:57:51Z      0       0",
      "2025-11-26T00:57:52Z      0       0",
      "2025-11-26T00:57:53Z      0       0",
      "2025-11-26T00:57:54Z      0       0",
      `2025-11-26T00:57:55Z      2       2  ${"░".repeat(BAR_WIDTH)}`,
    ]);
  });

  test("bucket starts are whole multiples of the size since the epoch, whatever was selected", () => {
    expect(histogram([ok(T + 7n * S + 3n)], 10n * S).buckets[0]!.start).toBe(T);
    expect(histogram([ok(T + 7n * S + 3n)], 7n * MIN).buckets[0]!.start % (7n * MIN)).toBe(0n);
    // a crafted capture may hold times before the epoch: rounded down, not toward zero
    expect(histogram([ok(-1n)], S).buckets[0]!.start).toBe(-S);
  });

  test("the order of the items does not matter: finer buckets merge exactly into coarser ones", () => {
    const r = rng(7);
    const items: QueryItem[] = Array.from({ length: 400 }, () => {
      const ts = T + BigInt(r.int(3_000_000)) * MS;
      if (r.chance(0.1)) return makeAggregate({ ts_ns: ts, last_ts_ns: ts + BigInt(r.int(600_000)) * MS, count: 1 + r.int(100) });
      return r.chance(0.25) ? ok(ts) : enoent(ts);
    });
    const sorted = [...items].sort((a, b) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : 0));
    const reversed = [...sorted].reverse();
    const want = histogram(sorted);
    expect(histogram(items)).toEqual(want);
    expect(histogram(reversed)).toEqual(want);
    // and the same as asking for that size from the start
    expect(histogram(reversed, want.bucket_ns)).toEqual(want);
    expect(want.buckets.reduce((n, b) => n + b.calls, 0)).toBe(want.totals.events + want.totals.aggregated);
  });

  test("a crafted capture spanning centuries still gives at most 40 buckets, and quickly", () => {
    const h = histogram([ok(-(2n ** 63n)), ok(2n ** 63n - 1n), ok(0n)]);
    expect(h.buckets.length).toBeLessThanOrEqual(AUTO_BUCKETS);
    expect(h.buckets.reduce((n, b) => n + b.calls, 0)).toBe(3);
  });

  test("a --bucket that would give more than 10,000 buckets is a usage error naming a size that fits", () => {
    const items = [ok(T), ok(T + 3n * 60n * MIN)];
    expect(() => histogram(items, MS)).toThrow(UsageError);
    expect(() => histogram(items, MS)).toThrow(
      "--bucket 1ms: the calls selected, 2025-11-26T00:57:50.000000000Z to 2025-11-26T03:57:50.000000000Z, need 10800001 buckets, " +
        "more than 10000 (use --bucket 10s or more, or narrow with --since/--until)",
    );
    // exactly MAX_BUCKETS is fine
    expect(histogram([ok(T), ok(T + BigInt(MAX_BUCKETS - 1) * S)], S).buckets).toHaveLength(MAX_BUCKETS);
    expect(() => histogram([ok(T), ok(T + BigInt(MAX_BUCKETS) * S)], S)).toThrow("need 10001 buckets");
  });

  test("bucketFromMs: parseDuration's milliseconds as ns, at least 1ns", () => {
    expect(bucketFromMs(600_000)).toBe(10n * MIN);
    expect(bucketFromMs(1.5)).toBe(1_500_000n);
    expect(bucketFromMs(0.000001)).toBe(1n);
    expect(() => bucketFromMs(0.0000001)).toThrow("--bucket: must be at least 1ns");
    expect(() => bucketFromMs(Infinity)).toThrow("--bucket: too large");
  });
});

describe("what is counted", () => {
  test("ok and failed calls apart; forced unloads among the ok ones; lost calls in the totals only", () => {
    const h = histogram([ok(T), enoent(T + 1n), forced(T + 2n), makeProcessAggregate({ ts_ns: T + 3n, last_ts_ns: T + 4n, count: 10 })], S, [loss(4)]);
    expect(h.buckets).toEqual([{ start: T, calls: 13, events: 3, aggregated: 10, ok: 2, failed: 11, forced: 1, spanning: 0 }]);
    expect(h.totals).toEqual({ calls: 17, events: 3, aggregated: 10, lost: 4 });
    expect(histogram([], null, [loss(4)])).toEqual({ bucket_ns: MS, totals: { calls: 4, events: 0, aggregated: 0, lost: 4 }, buckets: [] });
  });

  test("an aggregate's calls all go to its first call's bucket; the later buckets its span reaches are marked", () => {
    const agg = makeAggregate({ ts_ns: T + 500n * MS, last_ts_ns: T + 3n * S + 10n, count: 1000 });
    const h = histogram([agg, ok(T + 5n * S)], S);
    expect(h.buckets.map((b) => [b.calls, b.aggregated, b.spanning])).toEqual([
      [1000, 1000, 0],
      [0, 0, 1],
      [0, 0, 1],
      // its last call's bucket
      [0, 0, 1],
      [0, 0, 0],
      [1, 0, 0],
    ]);
    // overlapping spans add up; one within a bucket marks nothing
    const two = histogram([agg, makeOverflowAggregate({ ts_ns: T + 1n * S, last_ts_ns: T + 2n * S }), makeAggregate({ ts_ns: T + 4n * S, last_ts_ns: T + 4n * S + 9n })], S);
    expect(two.buckets.map((b) => b.spanning)).toEqual([0, 1, 2, 1, 0]);
    // merged into one coarser bucket, the span marks nothing
    expect(histogram([agg, ok(T + 5n * S)], 10n * S).buckets.map((b) => b.spanning)).toEqual([0]);
    // an automatic size coarsens the marks the same way
    const auto = histogram([agg, ok(T + 50n * S)]);
    expect(auto.bucket_ns).toBe(10n * S);
    expect(auto.buckets.map((b) => b.spanning)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test("a crafted aggregate whose last call is before its first: one bucket, no span", () => {
    const h = histogram([makeAggregate({ ts_ns: T + 5n * S, last_ts_ns: T, count: 3 })], S);
    expect(h.buckets).toEqual([{ start: T + 5n * S, calls: 3, events: 0, aggregated: 3, ok: 0, failed: 3, forced: 0, spanning: 0 }]);
  });
});

describe("the bar chart", () => {
  test("a flood stands out: its bucket gets the full width, a quiet one a single character", () => {
    const items = [ok(T), ...Array.from({ length: 600 }, (_, i) => enoent(T + 2n * S + BigInt(i) * MS)), ok(T + 4n * S)];
    const lines = histogramText(histogram(items, S)).split("\n");
    expect(lines).toEqual([
      "START (1s)            CALLS  FAILED  █ ok  ░ failed",
      "2025-11-26T00:57:50Z      1       0  █",
      "2025-11-26T00:57:51Z      0       0",
      `2025-11-26T00:57:52Z    600     600  ${"░".repeat(BAR_WIDTH)}`,
      "2025-11-26T00:57:53Z      0       0",
      "2025-11-26T00:57:54Z      1       0  █",
      "total: 602 calls (602 events, 0 aggregated, 0 lost)",
      "",
    ]);
  });

  test("a forced unload inside a flood of failures still shows: one █ at the left and a note", () => {
    const items = [...Array.from({ length: 10_000 }, (_, i) => enoent(T + BigInt(i) * 100_000n)), forced(T + 500n * MS), enoent(T + 2n * S)];
    const lines = histogramText(histogram(items, S)).split("\n");
    expect(lines[1]).toBe(`2025-11-26T00:57:50Z  10001   10000  █${"░".repeat(BAR_WIDTH - 1)}  1 forced`);
    expect(lines[2]).toBe("2025-11-26T00:57:51Z      0       0");
    expect(lines[3]).toBe("2025-11-26T00:57:52Z      1       1  ░");
  });

  test("a burst of ENOENT for one name, drawn with --module and --result", () => {
    const items = [ok(T), ...Array.from({ length: 30 }, (_, i) => enoent(T + 3n * S + BigInt(i) * MS, "rootkit")), enoent(T + 6n * S, "other")];
    const f = parseFilter({ module: ["rootkit"], result: "ENOENT" }, new Date());
    const h = histogram(items.filter((it) => matches(f, it)));
    expect(h.buckets.map((b) => b.calls)).toEqual([1, ...Array(28).fill(1), 1]);
    expect(calls(items, S)).toEqual([1, 0, 0, 30, 0, 0, 1]);
  });

  test("aggregates: ~ on the buckets their span reaches, explained once", () => {
    const h = histogram([makeAggregate({ ts_ns: T, last_ts_ns: T + 2n * S, count: 100 }), ok(T + 1n * S)], S);
    expect(histogramText(h)).toBe(
      [
        "START (1s)            CALLS  FAILED  █ ok  ░ failed",
        `2025-11-26T00:57:50Z    100     100  ${"░".repeat(60)}`,
        "2025-11-26T00:57:51Z      1       0  █  ~",
        "2025-11-26T00:57:52Z      0       0  ~",
        "~: an aggregate begun in an earlier bucket spans this one; all its calls are counted where it began",
        "total: 101 calls (1 events, 100 aggregated, 0 lost)",
        "",
      ].join("\n"),
    );
  });

  test("ok and failed in one bucket: each part at least one character, the bar scaled to the fullest bucket", () => {
    const mixed = [...Array.from({ length: 30 }, (_, i) => ok(T + BigInt(i))), ...Array.from({ length: 30 }, (_, i) => enoent(T + BigInt(i)))];
    const full = [...Array.from({ length: 120 }, (_, i) => enoent(T + S + BigInt(i)))];
    const lines = histogramText(histogram([...mixed, ...full], S)).split("\n");
    expect(lines[1]).toEndWith(`  ${"█".repeat(15)}${"░".repeat(15)}`);
    expect(lines[2]).toEndWith(`  ${"░".repeat(60)}`);
  });

  test("starts show the digits the bucket size needs", () => {
    expect(histogramText(histogram([ok(T)], 10n * MS)).split("\n")[1]).toStartWith("2025-11-26T00:57:50.000Z ");
    expect(histogramText(histogram([ok(T)], 1500n)).split("\n")[1]).toStartWith("2025-11-26T00:57:49.999999500Z ");
    expect(histogramText(histogram([ok(T)], 24n * 60n * MIN)).split("\n")).toEqual([
      "START (1d)            CALLS  FAILED  █ ok  ░ failed",
      `2025-11-26T00:00:00Z      1       0  ${"█".repeat(BAR_WIDTH)}`,
      "total: 1 calls (1 events, 0 aggregated, 0 lost)",
      "",
    ]);
  });

  test("on a terminal the bar narrows to fit; never below 10 columns; never wider than off one", () => {
    const h = histogram([enoent(T)], S);
    const barOf = (cols: number | null) => histogramText(h, cols).split("\n")[1]!.split("  ").at(-1)!.length;
    expect(barOf(null)).toBe(BAR_WIDTH);
    expect(barOf(200)).toBe(BAR_WIDTH);
    // 20 + 2 + 5 + 2 + 6 + 2 columns before the bar, 12 left for notes
    expect(barOf(80)).toBe(80 - 37 - 12);
    expect(barOf(20)).toBe(10);
  });

  test("no calls: the header and the totals", () => {
    expect(histogramText(histogram([], null, [loss(3)]))).toBe("START (1ms)  CALLS  FAILED  █ ok  ░ failed\ntotal: 3 calls (0 events, 0 aggregated, 3 lost)\n");
  });

  test("--json: the bucket size, the totals and every bucket, times as exact decimal strings", () => {
    const parsed = JSON.parse(histogramJson(histogram([ok(T), forced(T + 2n * S)], S, [loss(1)])));
    expect(Object.keys(parsed)).toEqual(["bucket_ns", "totals", "buckets"]);
    expect(parsed.bucket_ns).toBe("1000000000");
    expect(parsed.totals).toEqual({ calls: 3, events: 2, aggregated: 0, lost: 1 });
    expect(parsed.buckets).toEqual([
      { start: String(T), calls: 1, events: 1, aggregated: 0, ok: 1, failed: 0, forced: 0, spanning: 0 },
      { start: String(T + S), calls: 0, events: 0, aggregated: 0, ok: 0, failed: 0, forced: 0, spanning: 0 },
      { start: String(T + 2n * S), calls: 1, events: 1, aggregated: 0, ok: 1, failed: 0, forced: 1, spanning: 0 },
    ]);
  });
});

describe("over fixture captures", () => {
  const FLOOD = join(ROOT, "fixtures/flood.cbor.zst");
  const all = parseFilter({}, new Date());

  test("flood.cbor.zst: the flood, the real unload in the middle of it, the aggregates' spans, the late ENOENT", () => {
    const h = captureHistogram([FLOOD], all, null);
    expect(h.damaged).toEqual([]);
    expect(histogramText(h)).toBe(
      [
        "START (10ms)               CALLS  FAILED  █ ok  ░ failed",
        `2025-11-26T00:57:54.000Z  250003  250003  ${"░".repeat(60)}`,
        "2025-11-26T00:57:54.010Z       0       0  ~",
        "2025-11-26T00:57:54.020Z       1       0  █  ~",
        "2025-11-26T00:57:54.030Z       0       0  ~",
        `2025-11-26T00:57:54.040Z   41200   41200  ${"░".repeat(10)}  ~`,
        "2025-11-26T00:57:54.050Z       0       0  ~",
        "2025-11-26T00:57:54.060Z       0       0  ~",
        "2025-11-26T00:57:54.070Z       1       1  ░",
        "~: an aggregate begun in an earlier bucket spans this one; all its calls are counted where it began",
        "total: 291207 calls (5 events, 291200 aggregated, 2 lost)",
        "",
      ].join("\n"),
    );
  });

  test("filters select what is drawn; --events-only leaves the aggregates out", () => {
    const h = captureHistogram([FLOOD], parseFilter({ eventsOnly: true }, new Date()), 10n * MS);
    expect(h.buckets.map((b) => [b.calls, b.ok])).toEqual([[3, 0], [0, 0], [1, 1], [0, 0], [0, 0], [0, 0], [0, 0], [1, 0]]);
    expect(captureHistogram([FLOOD], parseFilter({ result: "ok" }, new Date()), null).buckets).toEqual([
      { start: 1764118674020000000n, calls: 1, events: 1, aggregated: 0, ok: 1, failed: 0, forced: 0, spanning: 0 },
    ]);
  });

  test("a rotation set reads as one selection", () => {
    const set = ["rotated.cbor.zst", "rotated.000002.cbor.zst", "rotated.000003.cbor.zst"].map((f) => join(ROOT, "fixtures", f));
    const h = captureHistogram(set, all, 10n * MS);
    expect(h.buckets.map((b) => b.calls)).toEqual([2, 2, 2]);
    expect(h.totals.events).toBe(6);
  });
});
