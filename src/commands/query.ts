// `dmrec query` and `dmrec export`: read captures, filter, render events, aggregates and
// loss records (src/query/filter.ts: a loss goes by the time window and --events-only
// only, since its calls cannot be attributed to anyone).
import { statSync } from "node:fs";
import { checkInputs, STDIN } from "../capture/scan.ts";
import { DamagedInputError, ExitCode } from "../errors.ts";
import { isExportFormat, type ExportFormat } from "../export/formats.ts";
import { callsOf, parseFilter, type EventFilter, type FilterOptions } from "../query/filter.ts";
import type { CaptureHeader, SegmentItem } from "../event.ts";
import { mergedItems, mergedRecords, type MergedRecord } from "../query/merge.ts";
import type { LineFormat } from "../query/lines.ts";
import type { LineRecord, ParallelOptions } from "../query/parallel.ts";
import { workersFor } from "../query/workers.ts";
import { createRenderer, type Format } from "../query/render.ts";
import type { Sink } from "../query/table.ts";
import { writeOutput } from "./output.ts";

/** query's formats, and export's SIEM formats (src/export/). */
export type OutputFormat = Format | ExportFormat;

export interface QueryCommandOptions {
  files: string[];
  filter: FilterOptions;
  /** stop after this many records (events, aggregates and losses) */
  limit?: number;
  format: OutputFormat;
  /** print the number of matching calls: an aggregate counts its calls, a loss record none */
  count: boolean;
  /** export: a file to create instead of stdout */
  out?: string;
  force?: boolean;
}

/** Everything intact has been written: now say what was not (exit 4), naming every damaged file. */
export function throwDamage(damaged: DamagedInputError[]): void {
  const [first, ...others] = damaged;
  if (!first) return;
  if (others.length) first.message += `; also damaged: ${others.map((d) => d.file).join(", ")}`;
  throw first;
}

export async function queryCommand(o: QueryCommandOptions): Promise<number> {
  checkInputs(o.files);
  const now = new Date();
  const filter = parseFilter(o.filter, now);
  const damaged: DamagedInputError[] = [];
  // Worker threads pay for large files, read from disk, in a format rendered record by record.
  const serial = o.files.includes(STDIN) || (o.count ? o.limit !== undefined : o.format === "table");
  // Asked even when serial: a DMREC_WORKERS that is not a number is refused whatever the format.
  const wanted = workersFor(inputBytes(o.files), o.count ? "count" : o.format);
  const workers = serial ? 0 : wanted;
  const parallel = { workers, format: o.count ? ("count" as const) : (o.format as LineFormat), filterOptions: o.filter, nowMs: now.getTime() };
  const run =
    workers > 0
      ? await inWorkers(o.files, filter, damaged, o.limit, parallel)
      : o.count
        ? countCalls(o.files, filter, damaged, o.limit)
        : await render(o.files, filter, damaged, o.limit, o.format);
  // The first record is read before the output is created: a capture that cannot be read
  // fails first, and leaves no --out file behind.
  run.start();
  writeOutput(o.out, o.force ?? false, (out) => run.finish(out));
  throwDamage(damaged);
  return ExitCode.ok;
}

type Output = { write: Sink; writeBytes(bytes: Uint8Array, at: number, end: number): void; readonly closed: boolean };

/** The files' sizes together: what decides whether workers pay (a file that cannot be stat'ed counts 0, and fails when opened). */
function inputBytes(files: string[]): number {
  let n = 0;
  for (const f of files) n += statSync(f, { throwIfNoEntry: false })?.size ?? 0;
  return n;
}

/**
 * The matching calls or records, rendered by worker threads (src/query/parallel.ts) and
 * framed here: the same text as the one-thread renderers.
 */
async function inWorkers(files: string[], filter: EventFilter, damaged: DamagedInputError[], limit: number | undefined, p: ParallelOptions): Promise<Run> {
  const [{ mergedLines, written }, { framingOf }] = await Promise.all([import("../query/parallel.ts"), import("../query/lines.ts")]);
  const counting = p.format === "count";
  const lines = mergedLines(files, filter, damaged, { ...p, losses: !counting, reorderWindow: counting ? 0 : undefined });
  const framing = counting ? null : framingOf(p.format as LineFormat);
  let next: IteratorResult<LineRecord>;
  return {
    start: () => void (next = lines.next()),
    finish(out) {
      let calls = 0;
      let n = 0;
      for (; !next.done; next = lines.next()) {
        const r = next.value;
        calls += r.calls;
        if (framing) {
          out.write(framing.before(n));
          if (typeof r.text === "string") out.write(r.text);
          else out.writeBytes(r.text.bytes, r.at, r.end);
          written(r);
        }
        if (out.closed || ++n === limit) break;
      }
      lines.return(undefined);
      out.write(framing ? framing.end(n) : `${calls}\n`);
    },
  };
}

/** What query's renderers and export's SIEM renderers have in common. */
interface AnyRenderer {
  item(item: SegmentItem, header: CaptureHeader): void;
  end(): void;
}

interface Run {
  start(): void;
  finish(out: Output): void;
}

/**
 * The matching calls: one per event, an aggregate's count. Lost calls are nobody's and
 * not counted (stats totals them); with --limit, loss records are records as in the
 * output, so that the count is of the records `query --limit` shows.
 */
function countCalls(files: string[], filter: EventFilter, damaged: DamagedInputError[], limit: number | undefined): Run {
  // A count of everything needs no time order, and skips the reorder window's cost.
  const items = limit === undefined ? mergedItems(files, filter, damaged, { reorderWindow: 0 }) : mergedItems(files, filter, damaged, { losses: true });
  let next: IteratorResult<SegmentItem>;
  return {
    start: () => void (next = items.next()),
    finish(out) {
      let calls = 0;
      let records = 0;
      for (; !next.done; next = items.next()) {
        calls += callsOf(next.value);
        if (++records === limit || out.closed) break;
      }
      items.return(undefined);
      out.write(`${calls}\n`);
    },
  };
}

/** Every matching record in time order, loss records among them, each with its capture's header for the SIEM formats. */
async function render(files: string[], filter: EventFilter, damaged: DamagedInputError[], limit: number | undefined, format: OutputFormat): Promise<Run> {
  let renderer: (sink: Sink) => AnyRenderer;
  if (isExportFormat(format)) {
    // The SIEM renderers are loaded only when asked for.
    const { createExportRenderer } = await import("../export/index.ts");
    const siem = format;
    renderer = (sink) => createExportRenderer(siem, sink);
  } else {
    const own = format;
    renderer = (sink) => {
      const r = createRenderer(own, sink);
      return { item: (item) => r.item(item), end: () => r.end() };
    };
  }
  const records = mergedRecords(files, filter, damaged);
  let next: IteratorResult<MergedRecord>;
  return {
    start: () => void (next = records.next()),
    finish(out) {
      const r = renderer(out.write);
      let n = 0;
      for (; !next.done; next = records.next()) {
        r.item(next.value.item, next.value.header);
        if (out.closed || ++n === limit) break;
      }
      // Closes every capture when the loop ended early.
      records.return(undefined);
      r.end();
    },
  };
}

