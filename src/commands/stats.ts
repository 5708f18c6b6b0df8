// `dmrec stats`: prints calls per (pid, comm, name, errno) and the totals, as a table or
// as one JSON object; the figures come from src/query/stats.ts.
import { checkInputs } from "../capture/scan.ts";
import { ExitCode } from "../errors.ts";
import { parseFilter, type FilterOptions } from "../query/filter.ts";
import { captureStats, MAX_GROUPS, type CaptureStats, type StatsGroup } from "../query/stats.ts";
import { tableEscaped, tableWriter } from "../query/table.ts";
import { nsToIso } from "../query/time.ts";
import { toJson } from "./json.ts";
import { fdSink } from "./output.ts";
import { throwDamage } from "./query.ts";

export interface StatsCommandOptions {
  files: string[];
  filter: FilterOptions;
  json: boolean;
}

/** A field the group has no value for: an aggregate's scope did not keep it, or the name was unreadable. */
const NULL = "<null>";

const COLUMNS: { title: string; right: boolean; cell: (g: StatsGroup) => string }[] = [
  { title: "CALLS", right: true, cell: (g) => String(g.calls) },
  { title: "EVENTS", right: true, cell: (g) => String(g.events) },
  { title: "AGGREGATED", right: true, cell: (g) => String(g.aggregated) },
  { title: "PID", right: true, cell: (g) => (g.pid === null ? NULL : String(g.pid)) },
  { title: "COMM", right: false, cell: (g) => (g.comm === null ? NULL : tableEscaped(g.comm)) },
  { title: "NAME", right: false, cell: (g) => (g.name === null ? NULL : tableEscaped(g.name)) },
  // Only successful events and aggregates of scope all (no process kept) have no errno.
  { title: "RESULT", right: false, cell: (g) => g.errno ?? (g.pid === null ? "failed" : "ok") },
  { title: "FIRST", right: false, cell: (g) => nsToIso(g.first, 6) },
  { title: "LAST", right: false, cell: (g) => nsToIso(g.last, 6) },
];

/** The table, largest group first, and a totals line. */
export function statsText(s: Omit<CaptureStats, "damaged">): string {
  let out = "";
  const table = tableWriter(COLUMNS, (chunk) => (out += chunk), Infinity);
  for (const g of s.groups) table.row(COLUMNS.map((c) => c.cell(g)));
  table.end();
  const t = s.totals;
  const o = s.other;
  const other = o.calls ? `other: ${o.calls} calls (${o.events} events, ${o.aggregated} aggregated) in groups beyond the first ${MAX_GROUPS}\n` : "";
  return `${out}${other}total: ${t.calls} calls (${t.events} events, ${t.aggregated} aggregated, ${t.lost} lost)\n`;
}

/**
 * One JSON object: counts as numbers, times as exact decimal strings of ns
 * since the epoch; `other` counts the calls of groups beyond MAX_GROUPS.
 */
export function statsJson(s: Omit<CaptureStats, "damaged">): string {
  return `${toJson({ totals: s.totals, groups: s.groups, other: s.other })}\n`;
}

export async function statsCommand(o: StatsCommandOptions): Promise<number> {
  checkInputs(o.files);
  const stats = captureStats(o.files, parseFilter(o.filter, new Date()));
  const out = fdSink(1, "stdout");
  out.write(o.json ? statsJson(stats) : statsText(stats));
  out.flush();
  throwDamage(stats.damaged);
  return ExitCode.ok;
}
