// dmrec stats: counting calls per (pid, comm, name, errno), or per the --by keys, over
// events, aggregates of every scope and loss records, largest group first, and the two
// ways of printing it. The histogram has test/unit/histogram.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CaptureWriter } from "../../src/capture/writer.ts";
import { runCli } from "../../src/cli.ts";
import { histogramJson, histogramText, statsByJson, statsByText, statsJson, statsText } from "../../src/commands/stats.ts";
import { UsageError } from "../../src/errors.ts";
import type { LossRecord, SegmentItem } from "../../src/event.ts";
import { matches, parseFilter, type FilterOptions, type QueryItem } from "../../src/query/filter.ts";
import { toJsonRecord } from "../../src/query/render.ts";
import { captureHistogram } from "../../src/query/histogram.ts";
import { byKey, captureStats, captureStatsBy, MAX_GROUPS, parseStatsBy, StatsTally } from "../../src/query/stats.ts";
import { O_TRUNC } from "../../src/names.ts";
import { anatomy, FIXED_NOW, header, ROOT, tempDir } from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent, makeOverflowAggregate, makeProcessAggregate } from "../support/events.ts";

const T0 = 1764118674200000000n; // makeAggregate's first call
const MS = 1_000_000n;

const processAgg = makeProcessAggregate;
const allAgg = makeOverflowAggregate;
const loss = (count: number): LossRecord => ({ type: "loss", ts_ns: T0, count, reason: "ringbuf_full" });

/** A flood of ENOENT from pid 5151 (3 events, then aggregated per call, then per process), two real unloads, the rest. */
const MIXED: QueryItem[] = [
  makeEvent({ ts_ns: T0 - 100n * MS }),
  ...[1n, 2n, 3n].map((i) =>
    makeEvent({ ts_ns: T0 - i * MS, pid: 5151, tid: 5151, comm: "flooder", name: latin1("nosuch"), ret: -2 }),
  ),
  makeAggregate(),
  processAgg({ ts_ns: T0 + 500n * MS, last_ts_ns: T0 + 2000n * MS }),
  allAgg({ ts_ns: T0 + 600n * MS, last_ts_ns: T0 + 700n * MS }),
  makeEvent({ ts_ns: T0 + 3000n * MS, pid: 4300, name: latin1("b\xffd name") }),
];
const LOSSES = [loss(17), loss(3)];

function tally(items: QueryItem[], losses: LossRecord[] = LOSSES, opts: FilterOptions = {}) {
  const f = parseFilter(opts, new Date("2026-01-01T00:00:00Z"));
  const t = new StatsTally();
  for (const it of items) if (matches(f, it)) t.add(it);
  for (const l of losses) t.addLoss(l);
  return t.result();
}

describe("StatsTally", () => {
  test("totals: events, aggregated calls and lost calls; calls is their sum", () => {
    expect(tally(MIXED).totals).toEqual({ calls: 5 + 290_007 + 20, events: 5, aggregated: 290_007, lost: 20 });
    expect(tally([], []).totals).toEqual({ calls: 0, events: 0, aggregated: 0, lost: 0 });
  });

  test("groups per (pid, comm, name, errno), largest first, with first and last call", () => {
    expect(tally(MIXED).groups).toEqual([
      // the call-scope aggregate joins the events of the same key
      { pid: 5151, comm: "flooder", name: "nosuch", errno: "ENOENT", calls: 250_003, events: 3, aggregated: 250_000,
        first: T0 - 3n * MS, last: 1764118675100000000n },
      { pid: 5151, comm: "flooder", name: null, errno: "ENOENT", calls: 40_000, events: 0, aggregated: 40_000,
        first: T0 + 500n * MS, last: T0 + 2000n * MS },
      { pid: null, comm: null, name: null, errno: null, calls: 7, events: 0, aggregated: 7,
        first: T0 + 600n * MS, last: T0 + 700n * MS },
      // equal calls: the earlier first call first
      { pid: 4242, comm: "rmmod", name: "dummy", errno: null, calls: 1, events: 1, aggregated: 0,
        first: T0 - 100n * MS, last: T0 - 100n * MS },
      { pid: 4300, comm: "rmmod", name: "b\\xffd name", errno: null, calls: 1, events: 1, aggregated: 0,
        first: T0 + 3000n * MS, last: T0 + 3000n * MS },
    ]);
  });

  test("names and comms exactly as query --format json shows them", () => {
    const ev = makeEvent({ comm: latin1("c\x1b[31m"), name: latin1("n\\\x80\n") });
    const [g] = tally([ev]).groups;
    const rec = toJsonRecord(ev);
    expect([g!.comm, g!.name] as unknown[]).toEqual([rec.comm, rec.name]);
    expect(g!.name).toBe("n\\\\\\x80\\x0a");
  });

  test("ordering: calls, then the earliest first call, then a fixed order of keys", () => {
    const at = (ms: bigint, pid: number, count: number) => makeAggregate({ ts_ns: T0 + ms * MS, last_ts_ns: T0 + ms * MS, pid, count });
    const pids = (items: QueryItem[]) => tally(items).groups.map((g) => g.pid);
    expect(pids([at(0n, 1, 5), at(0n, 2, 50), at(0n, 3, 500)])).toEqual([3, 2, 1]);
    expect(pids([at(9n, 1, 5), at(1n, 2, 5), at(5n, 3, 5)])).toEqual([2, 3, 1]);
    expect(pids([at(1n, 20, 5), at(1n, 3, 5), at(1n, 100, 5)])).toEqual(pids([at(1n, 100, 5), at(1n, 20, 5), at(1n, 3, 5)]));
  });

  test("filters decide which items count; lost calls count whatever the filter", () => {
    const only = tally(MIXED, LOSSES, { module: ["nosuch"] });
    expect(only.totals).toEqual({ calls: 250_023, events: 3, aggregated: 250_000, lost: 20 });
    expect(only.groups).toHaveLength(1);
    const events = tally(MIXED, LOSSES, { eventsOnly: true });
    expect(events.totals).toEqual({ calls: 25, events: 5, aggregated: 0, lost: 20 });
    expect(events.groups.map((g) => g.calls)).toEqual([3, 1, 1]);
  });

  test("a new pid in every item cannot grow the groups beyond their bound: the rest count as other, totals stay exact", () => {
    const t = new StatsTally(3);
    for (let pid = 1; pid <= 10; pid++) t.add(makeEvent({ pid }));
    t.add(makeAggregate({ pid: 2, count: 7 }));
    t.add(makeAggregate({ pid: 99, count: 40 }));
    const r = t.result();
    expect(r.groups.map((g) => g.pid)).toEqual([1, 2, 3]);
    // the aggregate of pid 2 names another comm and module: a group of its own, so other too
    expect(r.other).toEqual({ calls: 54, events: 7, aggregated: 47 });
    expect(r.totals).toMatchObject({ events: 10, aggregated: 47 });
    expect(statsText(r)).toContain("other: 54 calls (7 events, 47 aggregated) in groups beyond the first");
  });

  test("the result is a snapshot: adding more does not change it", () => {
    const t = new StatsTally();
    t.add(makeEvent());
    const r = t.result();
    t.add(makeEvent());
    expect(r.groups[0]!.calls).toBe(1);
    expect(r.totals.events).toBe(1);
  });
});

describe("printing", () => {
  test("--json: exactly one object, counts as numbers, times as exact decimal strings", () => {
    const out = statsJson(tally(MIXED));
    expect(out.endsWith("}\n")).toBe(true);
    const parsed = JSON.parse(out);
    expect(Object.keys(parsed)).toEqual(["totals", "groups", "other"]);
    expect(parsed.other).toEqual({ calls: 0, events: 0, aggregated: 0 });
    expect(parsed.totals).toEqual({ calls: 290_032, events: 5, aggregated: 290_007, lost: 20 });
    expect(Object.keys(parsed.groups[0])).toEqual(["pid", "comm", "name", "errno", "calls", "events", "aggregated", "first", "last"]);
    expect(parsed.groups[0]).toEqual({
      pid: 5151, comm: "flooder", name: "nosuch", errno: "ENOENT", calls: 250_003, events: 3, aggregated: 250_000,
      first: "1764118674197000000", last: "1764118675100000000",
    });
    expect(parsed.groups[2]).toMatchObject({ pid: null, comm: null, name: null, errno: null });
    expect(JSON.parse(statsJson(tally([], [])))).toEqual({
      totals: { calls: 0, events: 0, aggregated: 0, lost: 0 },
      groups: [],
      other: { calls: 0, events: 0, aggregated: 0 },
    });
  });

  test("table: a row per group, escaped names, null fields marked, and a totals line", () => {
    expect(statsText(tally(MIXED))).toBe(
      [
        " CALLS  EVENTS  AGGREGATED     PID  COMM     NAME            RESULT  FIRST                        LAST",
        "250003       3      250000    5151  flooder  nosuch          ENOENT  2025-11-26T00:57:54.197000Z  2025-11-26T00:57:55.100000Z",
        " 40000       0       40000    5151  flooder  <null>          ENOENT  2025-11-26T00:57:54.700000Z  2025-11-26T00:57:56.200000Z",
        "     7       0           7  <null>  <null>   <null>          failed  2025-11-26T00:57:54.800000Z  2025-11-26T00:57:54.900000Z",
        "     1       1           0    4242  rmmod    dummy           ok      2025-11-26T00:57:54.100000Z  2025-11-26T00:57:54.100000Z",
        "     1       1           0    4300  rmmod    b\\xffd\\x20name  ok      2025-11-26T00:57:57.200000Z  2025-11-26T00:57:57.200000Z",
        "total: 290032 calls (5 events, 290007 aggregated, 20 lost)",
        "",
      ].join("\n"),
    );
    expect(statsText(tally([], []))).toBe(
      "CALLS  EVENTS  AGGREGATED  PID  COMM  NAME  RESULT  FIRST  LAST\ntotal: 0 calls (0 events, 0 aggregated, 0 lost)\n",
    );
  });
});

describe("stats over captures", () => {
  const tmp = tempDir("dmrec-stats-");
  afterAll(() => tmp.cleanup());
  /** MIXED as a recorder writes it: aggregates after later events, a segment of losses only. */
  const write = (items: SegmentItem[], segmentEvents: number) => {
    const path = tmp.path();
    const w = CaptureWriter.create(path, { ...header, budget: null }, { nowNs: FIXED_NOW, segmentEvents });
    for (const it of items) w.write(it);
    w.close();
    return path;
  };
  const events = MIXED.filter((it) => it.type === "event");
  const aggregates = MIXED.filter((it) => it.type === "aggregate");
  const files = () => [write([...events.slice(0, 3), ...aggregates.slice(0, 2)], 2), write([...LOSSES, events[3]!, events[4]!, aggregates[2]!], 2)];
  const dmrec = (cmd: string[], ...args: string[]) => {
    const r = Bun.spawnSync([...cmd, "src/main.ts", "stats", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const bun = [process.execPath];
  const deno = [join(ROOT, "node_modules/.bin/deno"), "run", "--no-lock", "--no-check", "--allow-read", "--allow-env"];
  const f = (opts: FilterOptions) => parseFilter(opts, new Date("2026-01-01T00:00:00Z"));

  test("captureStats reads every file and counts what tally counts", () => {
    const got = captureStats(files(), f({}));
    expect(got.damaged).toEqual([]);
    expect({ totals: got.totals, groups: got.groups, other: got.other }).toEqual(tally(MIXED));
  });

  test("filters apply to events and aggregates; loss records count in segments the index would skip", () => {
    const got = captureStats(files(), f({ module: ["nosuch"] }));
    expect(got.totals).toEqual({ calls: 250_023, events: 3, aggregated: 250_000, lost: 20 });
    expect(captureStats(files(), f({ eventsOnly: true, comm: ["rmmod"] })).totals).toEqual({ calls: 22, events: 2, aggregated: 0, lost: 20 });
  });

  test("--json prints exactly one JSON object, the same under Bun and Deno", () => {
    const paths = files();
    const r = dmrec(bun, ...paths, "--json");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(statsJson(tally(MIXED)));
    expect(JSON.parse(r.stdout).totals.calls).toBe(290_032);
    expect(dmrec(deno, ...paths, "--json")).toEqual(r);
    expect(dmrec(bun, ...paths).stdout).toBe(statsText(tally(MIXED)));
  });

  test("damaged input: what is intact is printed, then one error line, exit 4", () => {
    const [good, cut] = files();
    const bytes = readFileSync(cut!);
    // cut in the last segment's data frame, the one holding the aggregate of scope all
    writeFileSync(cut!, bytes.subarray(0, anatomy(bytes).segments.at(-1)!.data.offset + 5));
    const r = dmrec(bun, good!, cut!, "--json");
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^dmrec: .*truncated.* at byte \d+\n$/);
    const partial = JSON.parse(r.stdout);
    expect(partial.totals).toEqual({ calls: 290_025, events: 5, aggregated: 290_000, lost: 20 });
    expect(partial.groups).toHaveLength(4);
  });

  test("bad arguments are usage errors (exit 2); a missing file exit 3", () => {
    expect(dmrec(bun, "--limit", "3", files()[0]!).code).toBe(2);
    expect(dmrec(bun, files()[0]!, "--result", "nope").code).toBe(2);
    expect(dmrec(bun, join(tmp.dir, "missing.cbor.zst")).code).toBe(3);
  });
});

describe("--by", () => {
  const by = (keys: string, items: QueryItem[] = MIXED, losses: LossRecord[] = LOSSES, maxGroups = MAX_GROUPS) => {
    const t = new StatsTally(maxGroups, byKey(parseStatsBy(keys)!));
    for (const it of items) t.add(it);
    for (const l of losses) t.addLoss(l);
    return { by: parseStatsBy(keys)!, ...t.result() };
  };
  const counts = (calls: number, events: number, first: bigint, last: bigint) => ({ calls, events, aggregated: calls - events, first, last });

  test("module: calls per name, whoever made them; an aggregate that kept no name is <null>", () => {
    expect(by("module").groups).toEqual([
      { name: "nosuch", ...counts(250_003, 3, T0 - 3n * MS, 1764118675100000000n) },
      // the aggregates of scope process and all
      { name: null, ...counts(40_007, 0, T0 + 500n * MS, T0 + 2000n * MS) },
      { name: "dummy", ...counts(1, 1, T0 - 100n * MS, T0 - 100n * MS) },
      { name: "b\\xffd name", ...counts(1, 1, T0 + 3000n * MS, T0 + 3000n * MS) },
    ]);
  });

  test("process: calls per pid and comm, whatever the name and result", () => {
    expect(by("process").groups).toEqual([
      { pid: 5151, comm: "flooder", ...counts(290_003, 3, T0 - 3n * MS, T0 + 2000n * MS) },
      { pid: null, comm: null, ...counts(7, 0, T0 + 600n * MS, T0 + 700n * MS) },
      { pid: 4242, comm: "rmmod", ...counts(1, 1, T0 - 100n * MS, T0 - 100n * MS) },
      { pid: 4300, comm: "rmmod", ...counts(1, 1, T0 + 3000n * MS, T0 + 3000n * MS) },
    ]);
  });

  test("errno: the result, ok for a success, failed for an aggregate that kept no errno", () => {
    expect(by("errno").groups).toEqual([
      { result: "ENOENT", ...counts(290_003, 3, T0 - 3n * MS, T0 + 2000n * MS) },
      { result: "failed", ...counts(7, 0, T0 + 600n * MS, T0 + 700n * MS) },
      { result: "ok", ...counts(2, 2, T0 - 100n * MS, T0 + 3000n * MS) },
    ]);
  });

  test("uid: calls per uid; an aggregate of scope all keeps none", () => {
    // the events are all root's (makeEvent), the flooder's aggregates nobody's (65534)
    expect(by("uid").groups.map((g) => [g.uid, g.calls])).toEqual([[65534, 290_000], [null, 7], [0, 5]]);
  });

  test("hour: the UTC hour of the call; an aggregate goes to its first call's hour, its last call still shown", () => {
    const H = 3_600_000_000_000n;
    const hour0 = (T0 / H) * H; // 2025-11-26T00:00:00Z
    const items = [
      makeEvent({ ts_ns: hour0 + 5n }),
      makeEvent({ ts_ns: hour0 + H + 1n }),
      makeEvent({ ts_ns: hour0 + 3n * H }),
      makeAggregate({ ts_ns: hour0 + H - 1n, last_ts_ns: hour0 + H + 30n * 60_000_000_000n, count: 10 }),
    ];
    const r = by("hour", items, []);
    expect(r.groups.map((g) => [g.hour, g.calls, g.events])).toEqual([
      ["2025-11-26T00", 11, 1],
      ["2025-11-26T01", 1, 1],
      ["2025-11-26T03", 1, 1],
    ]);
    expect(r.groups[0]!.last).toBe(hour0 + H + 30n * 60_000_000_000n);
    // equal calls: the earlier hour first
    expect(by("hour", items.slice(0, 3).reverse(), []).groups.map((g) => g.hour)).toEqual(["2025-11-26T00", "2025-11-26T01", "2025-11-26T03"]);
  });

  test("a burst of ENOENT for one name stands out under module,errno, though spread over many processes", () => {
    // A module hidden from lsmod: many processes ask to unload it, and the kernel says it is not there.
    const probes = Array.from({ length: 40 }, (_, i) =>
      makeEvent({ ts_ns: T0 + BigInt(i) * MS, pid: 7000 + i, comm: "probe", name: latin1("rootkit"), ret: -2 }),
    );
    const routine = ["dummy", "loop", "xfs"].map((n, i) => makeEvent({ ts_ns: T0 + BigInt(i) * MS, pid: 4000 + i, name: latin1(n) }));
    const items = [...routine, ...probes];
    // Per process (the default), every group is one call: nothing stands out.
    expect(tally(items, []).groups.every((g) => g.calls === 1)).toBe(true);
    const r = by("module,errno", items, []);
    expect(r.groups[0]).toMatchObject({ name: "rootkit", result: "ENOENT", calls: 40 });
    expect(r.groups.slice(1).map((g) => g.calls)).toEqual([1, 1, 1]);
    expect(statsByText(r).split("\n")[1]).toMatch(/^ +40 +40 +0 +rootkit +ENOENT /);
  });

  test("a forced unload shows as its own result row under errno, and its process under process --result ok", () => {
    const forced = makeEvent({ ts_ns: T0 + 30n * MS, pid: 666, comm: "evil", flags: O_TRUNC, forced: true, name: latin1("auditmod") });
    const items = [...MIXED, forced];
    const ok = tally(items, [], { result: "ok" });
    expect(ok.groups.map((g) => g.pid)).toContain(666);
    const f = parseFilter({ forced: true }, new Date("2026-01-01T00:00:00Z"));
    const t = new StatsTally(MAX_GROUPS, byKey(["process", "module"]));
    for (const it of items) if (matches(f, it)) t.add(it);
    expect(t.result().groups).toEqual([{ pid: 666, comm: "evil", name: "auditmod", ...counts(1, 1, T0 + 30n * MS, T0 + 30n * MS) }]);
  });

  test("composite keys: fields in the order given, each value its own group", () => {
    const r = by("errno,process");
    expect(Object.keys(r.groups[0]!)).toEqual(["result", "pid", "comm", "calls", "events", "aggregated", "first", "last"]);
    expect(r.groups.map((g) => [g.result, g.pid])).toEqual([["ENOENT", 5151], ["failed", null], ["ok", 4242], ["ok", 4300]]);
  });

  test("a name that is literally \"null\" is not the unreadable name", () => {
    const items = [makeEvent({ name: latin1("null") }), makeEvent({ name: null, name_entry: null, name_exit: null })];
    // two groups (the same calls and time: ordered by key, the missing name first)
    expect(by("module", items, []).groups.map((g) => g.name)).toEqual([null, "null"]);
    expect(tally(items, []).groups.map((g) => g.name)).toEqual([null, "null"]);
  });

  test("groups stay bounded: the rest count as other, totals stay exact", () => {
    const items = Array.from({ length: 10 }, (_, i) => makeEvent({ name: latin1(`m${i}`) }));
    const r = by("module", [...items, makeAggregate({ count: 5 })], [loss(2)], 3);
    expect(r.groups.map((g) => g.name)).toEqual(["m0", "m1", "m2"]);
    expect(r.other).toEqual({ calls: 12, events: 7, aggregated: 5 });
    expect(r.totals).toEqual({ calls: 17, events: 10, aggregated: 5, lost: 2 });
    expect(statsByText(r)).toContain("other: 12 calls (7 events, 5 aggregated) in groups beyond the first 10000\n");
  });

  test("losses stay in the totals only", () => {
    const r = by("module,errno,process,hour,uid");
    expect(r.totals).toEqual(tally(MIXED).totals);
    expect(r.groups.reduce((n, g) => n + g.calls, 0)).toBe(r.totals.calls - r.totals.lost);
  });

  test("table: counts, the keys' columns in order, first and last call; names escaped, <null> marked", () => {
    expect(statsByText(by("module,errno"))).toBe(
      [
        " CALLS  EVENTS  AGGREGATED  NAME            RESULT  FIRST                        LAST",
        "250003       3      250000  nosuch          ENOENT  2025-11-26T00:57:54.197000Z  2025-11-26T00:57:55.100000Z",
        " 40000       0       40000  <null>          ENOENT  2025-11-26T00:57:54.700000Z  2025-11-26T00:57:56.200000Z",
        "     7       0           7  <null>          failed  2025-11-26T00:57:54.800000Z  2025-11-26T00:57:54.900000Z",
        "     1       1           0  dummy           ok      2025-11-26T00:57:54.100000Z  2025-11-26T00:57:54.100000Z",
        "     1       1           0  b\\xffd\\x20name  ok      2025-11-26T00:57:57.200000Z  2025-11-26T00:57:57.200000Z",
        "total: 290032 calls (5 events, 290007 aggregated, 20 lost)",
        "",
      ].join("\n"),
    );
    const hostile = by("process", [makeEvent({ comm: latin1("x <null>\x1b[2J") })], []);
    expect(statsByText(hostile).split("\n")[1]).toContain("x\\x20\\x3cnull>\\x1b[2J");
  });

  test("--json: by, totals, groups with only their key's fields, other", () => {
    const parsed = JSON.parse(statsByJson(by("process,errno")));
    expect(Object.keys(parsed)).toEqual(["by", "totals", "groups", "other"]);
    expect(parsed.by).toEqual(["process", "errno"]);
    expect(parsed.totals).toEqual({ calls: 290_032, events: 5, aggregated: 290_007, lost: 20 });
    expect(parsed.groups[0]).toEqual({
      pid: 5151, comm: "flooder", result: "ENOENT", calls: 290_003, events: 3, aggregated: 290_000,
      first: "1764118674197000000", last: "1764118676200000000",
    });
    expect(parsed.groups[1]).toMatchObject({ pid: null, comm: null, result: "failed" });
    expect(JSON.parse(statsByJson(by("hour"))).groups[0].hour).toBe("2025-11-26T00");
    expect(JSON.parse(statsByJson(by("uid", [], [])))).toEqual({
      by: ["uid"], totals: { calls: 0, events: 0, aggregated: 0, lost: 0 }, groups: [], other: { calls: 0, events: 0, aggregated: 0 },
    });
  });

  test("parseStatsBy: a key or a comma list in any case; unknown, empty or repeated keys are usage errors", () => {
    expect(parseStatsBy(undefined)).toBeNull();
    expect(parseStatsBy("module")).toEqual(["module"]);
    expect(parseStatsBy(" Module , ERRNO")).toEqual(["module", "errno"]);
    expect(parseStatsBy("hour,uid,process")).toEqual(["hour", "uid", "process"]);
    for (const [bad, message] of [
      ["nope", /^--by: unknown key "nope" \(use module, process, errno, hour, uid/],
      ["pid", /unknown key "pid"/],
      ["", /^--by: expected module, process, errno, hour, uid or a comma list/],
      ["module,", /expected/],
      ["module,MODULE", /^--by: module given more than once/],
    ] as const) {
      expect(() => parseStatsBy(bad)).toThrow(UsageError);
      expect(() => parseStatsBy(bad)).toThrow(message);
    }
  });
});

describe("stats --by and --histogram from the command line", () => {
  const FLOOD = join(ROOT, "fixtures/flood.cbor.zst");
  const cli = (...args: string[]) => runCli(["stats", FLOOD, ...args]);

  test("bad --by, --bucket and combinations are usage errors with one clear line", async () => {
    for (const [args, message] of [
      [["--by", "nope"], /^--by: unknown key "nope"/],
      [["--by", "module", "--by", "errno"], /^--by: given more than once$/],
      [["--by"], /^--by: expected/],
      [["--bucket", "1s"], /^--bucket: only with --histogram$/],
      [["--histogram", "--bucket", "0"], /^--bucket: must be longer than 0/],
      [["--histogram", "--bucket", "soon"], /^--bucket: cannot parse "soon"/],
      [["--histogram", "--bucket", "-5m"], /^--bucket: cannot parse "-5m"/],
      [["--histogram", "--bucket", "0.0000001ms"], /^--bucket: must be at least 1ns$/],
      [["--histogram", "--bucket", "1".padEnd(400, "0")], /^--bucket: too large$/],
      [["--histogram", "--by", "module"], /^--by: not with --histogram/],
      [["--histogram", "--histogram"], /^--histogram: given more than once$/],
      [["--histogram=yes"], /^--histogram: takes no value/],
      [["--histogram", "--bucket", "1us"], /^--bucket: cannot parse/],
    ] as const) {
      const run = cli(...args);
      await expect(run).rejects.toBeInstanceOf(UsageError);
      await expect(cli(...args)).rejects.toThrow(message);
    }
  });

  test("a --bucket too fine for the selection: exit 2, one line that says what would do", () => {
    const r = Bun.spawnSync([process.execPath, "src/main.ts", "stats", FLOOD, "--histogram", "--bucket", "0.001ms"], { cwd: ROOT });
    expect(r.exitCode).toBe(2);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr.toString()).toBe(
      "dmrec: --bucket 1us: the calls selected, 2025-11-26T00:57:54.000000000Z to 2025-11-26T00:57:54.070000000Z, " +
        "need 70001 buckets, more than 10000 (use --bucket 1ms or more, or narrow with --since/--until)\n",
    );
  });

  test("--by and --histogram print the same under Bun and Deno, and what the library computes", () => {
    const bun = [process.execPath];
    const deno = [join(ROOT, "node_modules/.bin/deno"), "run", "--no-lock", "--no-check", "--allow-read", "--allow-env"];
    const f = parseFilter({}, new Date());
    const run = (cmd: string[], ...args: string[]) => {
      const r = Bun.spawnSync([...cmd, "src/main.ts", "stats", FLOOD, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
      return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    const cases: [string[], string][] = [
      [["--by", "module,errno"], statsByText(captureStatsBy([FLOOD], f, ["module", "errno"]))],
      [["--by", "process", "--json"], statsByJson(captureStatsBy([FLOOD], f, ["process"]))],
      [["--histogram"], histogramText(captureHistogram([FLOOD], f, null))],
      [["--histogram", "--bucket", "5ms", "--json"], histogramJson(captureHistogram([FLOOD], f, 5_000_000n))],
    ];
    for (const [args, expected] of cases) {
      const r = run(bun, ...args);
      expect(r).toEqual({ code: 0, stdout: expected, stderr: "" });
      expect(run(deno, ...args)).toEqual(r);
    }
  });
});
