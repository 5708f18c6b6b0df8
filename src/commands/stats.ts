// `dmrec stats`: prints calls per (pid, comm, name, errno), or per the --by keys, and the
// totals, as a table or as one JSON object; or, with --histogram, calls per time bucket
// as a bar chart. The figures come from src/query/stats.ts and src/query/histogram.ts.
import { checkInputs } from "../capture/scan.ts";
import { ExitCode } from "../errors.ts";
import { parseFilter, type FilterOptions } from "../query/filter.ts";
import { captureHistogram, type HistogramBucket, type HistogramResult } from "../query/histogram.ts";
import {
  captureStats,
  captureStatsBy,
  MAX_GROUPS,
  type ByGroup,
  type StatsBy,
  type StatsCounts,
  type StatsGroup,
  type StatsResult,
} from "../query/stats.ts";
import { tableEscaped, tableWriter } from "../query/table.ts";
import { nsToDuration, nsToIso } from "../query/time.ts";
import { toJson } from "./json.ts";
import { fdSink } from "./output.ts";
import { throwDamage } from "./query.ts";

export interface StatsCommandOptions {
  files: string[];
  filter: FilterOptions;
  json: boolean;
  /** --by keys (parseStatsBy); null: per (pid, comm, name, errno) */
  by?: StatsBy[] | null;
  /** calls per time bucket instead of per group */
  histogram?: boolean;
  /** --histogram's bucket size in ns; null: automatic */
  bucketNs?: bigint | null;
}

/** A field the group has no value for: an aggregate's scope did not keep it, or the name was unreadable. */
const NULL = "<null>";

interface Column<G> {
  title: string;
  right: boolean;
  cell: (g: G) => string;
}

const nullable = (v: number | string | null | undefined, show: (v: string) => string = String) =>
  v === null || v === undefined ? NULL : show(String(v));

const COUNT_COLUMNS: Column<StatsCounts>[] = [
  { title: "CALLS", right: true, cell: (g) => String(g.calls) },
  { title: "EVENTS", right: true, cell: (g) => String(g.events) },
  { title: "AGGREGATED", right: true, cell: (g) => String(g.aggregated) },
];

const TIME_COLUMNS: Column<StatsCounts>[] = [
  { title: "FIRST", right: false, cell: (g) => nsToIso(g.first, 6) },
  { title: "LAST", right: false, cell: (g) => nsToIso(g.last, 6) },
];

const COLUMNS: Column<StatsGroup>[] = [
  ...COUNT_COLUMNS,
  { title: "PID", right: true, cell: (g) => nullable(g.pid) },
  { title: "COMM", right: false, cell: (g) => nullable(g.comm, tableEscaped) },
  { title: "NAME", right: false, cell: (g) => nullable(g.name, tableEscaped) },
  // Only successful events and aggregates of scope all (no process kept) have no errno.
  { title: "RESULT", right: false, cell: (g) => g.errno ?? (g.pid === null ? "failed" : "ok") },
  ...TIME_COLUMNS,
];

/** The columns of each --by key, in the order of its fields (ByKey). */
const BY_COLUMNS: Record<StatsBy, Column<ByGroup>[]> = {
  module: [{ title: "NAME", right: false, cell: (g) => nullable(g.name, tableEscaped) }],
  process: [
    { title: "PID", right: true, cell: (g) => nullable(g.pid) },
    { title: "COMM", right: false, cell: (g) => nullable(g.comm, tableEscaped) },
  ],
  errno: [{ title: "RESULT", right: false, cell: (g) => nullable(g.result) }],
  hour: [{ title: "HOUR", right: false, cell: (g) => nullable(g.hour) }],
  uid: [{ title: "UID", right: true, cell: (g) => nullable(g.uid) }],
};

function groupsText<G extends StatsCounts>(columns: Column<G>[], s: StatsResult<G>): string {
  let out = "";
  const table = tableWriter(columns, (chunk) => (out += chunk), Infinity);
  for (const g of s.groups) table.row(columns.map((c) => c.cell(g)));
  table.end();
  const o = s.other;
  const other = o.calls ? `other: ${o.calls} calls (${o.events} events, ${o.aggregated} aggregated) in groups beyond the first ${MAX_GROUPS}\n` : "";
  return `${out}${other}${totalLine(s.totals)}`;
}

const totalLine = (t: StatsResult<StatsCounts>["totals"]) =>
  `total: ${t.calls} calls (${t.events} events, ${t.aggregated} aggregated, ${t.lost} lost)\n`;

/** The table, largest group first, and a totals line. */
export function statsText(s: StatsResult<StatsGroup>): string {
  return groupsText(COLUMNS, s);
}

/** The same for --by: the counts, the keys' columns in the order given, first and last call. */
export function statsByText(s: StatsResult<ByGroup> & { by: readonly StatsBy[] }): string {
  return groupsText([...COUNT_COLUMNS, ...s.by.flatMap((b) => BY_COLUMNS[b]), ...TIME_COLUMNS], s);
}

/**
 * One JSON object: counts as numbers, times as exact decimal strings of ns
 * since the epoch; `other` counts the calls of groups beyond MAX_GROUPS.
 *
 *   { "totals": { calls, events, aggregated, lost },
 *     "groups": [ { pid, comm, name, errno, calls, events, aggregated, first, last }, ... ],
 *     "other": { calls, events, aggregated } }
 */
export function statsJson(s: StatsResult<StatsGroup>): string {
  return `${toJson({ totals: s.totals, groups: s.groups, other: s.other })}\n`;
}

/**
 * --by as JSON: the keys given, then as statsJson, each group holding only its key's
 * fields, in the order of the keys: module `name`, process `pid` and `comm`, errno
 * `result` ("ok", "ENOENT", ..., "failed" where an aggregate kept no errno), hour
 * `hour` ("2025-11-26T00", UTC), uid `uid`; null where a scope kept no value.
 *
 *   { "by": ["module", "errno"],
 *     "totals": { calls, events, aggregated, lost },
 *     "groups": [ { name, result, calls, events, aggregated, first, last }, ... ],
 *     "other": { calls, events, aggregated } }
 */
export function statsByJson(s: StatsResult<ByGroup> & { by: readonly StatsBy[] }): string {
  return `${toJson({ by: s.by, totals: s.totals, groups: s.groups, other: s.other })}\n`;
}

/** Bar width when stdout is not a terminal, and at most on one. */
export const BAR_WIDTH = 60;
/** The narrowest bar on a narrow terminal: the shape still shows, the line wraps. */
const MIN_BAR_WIDTH = 10;
/** Room left on a terminal line after the bar, for its notes ("~", "3 forced"). */
const NOTES_WIDTH = 12;

const OK_BAR = "█";
const FAILED_BAR = "░";
const SPANNING = "~";

/** Fractional digits that show a bucket start exactly: none for whole seconds. */
function startDigits(size: bigint): number {
  if (size % 1_000_000_000n === 0n) return 0;
  if (size % 1_000_000n === 0n) return 3;
  return size % 1000n === 0n ? 6 : 9;
}

/**
 * The bar of one bucket: its length scaled to the fullest bucket, ok calls (█) then
 * failed ones (░). A part that is not empty gets one character at least, so one real
 * unload within a flood of failures, or one failure among successes, still shows.
 */
function bar(b: HistogramBucket, max: number, width: number): string {
  if (b.calls === 0) return "";
  const scaled = (n: number) => Math.round((n * width) / max);
  if (b.ok === 0) return FAILED_BAR.repeat(Math.max(1, scaled(b.failed)));
  if (b.failed === 0) return OK_BAR.repeat(Math.max(1, scaled(b.ok)));
  const length = Math.max(2, scaled(b.calls));
  const ok = Math.min(Math.max(1, scaled(b.ok)), length - 1);
  return OK_BAR.repeat(ok) + FAILED_BAR.repeat(length - ok);
}

/**
 * The histogram: a line per bucket, in time order, empty ones too: its start (UTC),
 * calls, failed calls and the bar, then notes: `~` where an aggregate begun earlier
 * spans the bucket, `N forced` for forced unloads. Then the totals line, whose lost
 * calls are in no bucket. `terminalColumns` (stdout is a terminal) narrows the bar
 * to fit; otherwise it is BAR_WIDTH wide at most, the same in every pipe.
 */
export function histogramText(h: HistogramResult, terminalColumns: number | null = null): string {
  const digits = startDigits(h.bucket_ns);
  const rows = h.buckets.map((b) => [nsToIso(b.start, digits), String(b.calls), String(b.failed)]);
  const head = [`START (${nsToDuration(h.bucket_ns)})`, "CALLS", "FAILED"];
  const widths = head.map((t, i) => Math.max(t.length, ...rows.map((r) => r[i]!.length)));
  const cells = (r: string[]) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`;
  const prefix = widths.reduce((a, w) => a + w + 2, 0);
  const width =
    terminalColumns === null ? BAR_WIDTH : Math.max(MIN_BAR_WIDTH, Math.min(BAR_WIDTH, terminalColumns - prefix - NOTES_WIDTH));
  const max = Math.max(0, ...h.buckets.map((b) => b.calls));
  let out = `${cells(head)}  ${OK_BAR} ok  ${FAILED_BAR} failed\n`;
  let spanning = false;
  h.buckets.forEach((b, i) => {
    const notes = [bar(b, max, width)];
    if (b.spanning > 0) notes.push(SPANNING);
    if (b.forced > 0) notes.push(`${b.forced} forced`);
    spanning ||= b.spanning > 0;
    const tail = notes.filter((n) => n !== "").join("  ");
    out += `${cells(rows[i]!)}${tail ? `  ${tail}` : ""}\n`;
  });
  if (spanning) out += `${SPANNING}: an aggregate begun in an earlier bucket spans this one; all its calls are counted where it began\n`;
  return out + totalLine(h.totals);
}

/**
 * --histogram as JSON: the bucket size, the totals (as statsJson) and every bucket in
 * time order, empty ones included; starts as exact decimal strings of ns since the epoch.
 *
 *   { "bucket_ns": "10000000",
 *     "totals": { calls, events, aggregated, lost },
 *     "buckets": [ { start, calls, events, aggregated, ok, failed, forced, spanning }, ... ] }
 */
export function histogramJson(h: HistogramResult): string {
  return `${toJson({ bucket_ns: h.bucket_ns, totals: h.totals, buckets: h.buckets })}\n`;
}

export async function statsCommand(o: StatsCommandOptions): Promise<number> {
  checkInputs(o.files);
  const filter = parseFilter(o.filter, new Date());
  let text: string;
  let damaged;
  if (o.histogram) {
    const h = captureHistogram(o.files, filter, o.bucketNs ?? null);
    const columns = process.stdout.isTTY ? (process.stdout.columns ?? null) : null;
    text = o.json ? histogramJson(h) : histogramText(h, columns);
    damaged = h.damaged;
  } else if (o.by) {
    const s = captureStatsBy(o.files, filter, o.by);
    text = o.json ? statsByJson(s) : statsByText(s);
    damaged = s.damaged;
  } else {
    const s = captureStats(o.files, filter);
    text = o.json ? statsJson(s) : statsText(s);
    damaged = s.damaged;
  }
  const out = fdSink(1, "stdout");
  out.write(text);
  out.flush();
  throwDamage(damaged);
  return ExitCode.ok;
}
