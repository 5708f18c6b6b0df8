// The matching events and aggregate records of several captures as one stream in time
// order, for query, export and stats, with their loss records when asked (query and
// export: every one within the time window, filters.ts says why), and with the header of
// the capture each item came from when asked (mergedRecords: export's host fields). Each
// capture goes through its own bounded reorder window (reorder.ts: at most REORDER_WINDOW
// items and REORDER_WINDOW_BYTES), and at most MAX_OPEN_CAPTURES are read at the same
// time, in the order they start: memory and open files are bounded by that many captures
// (headers included: a capture's is read when it is opened and dropped when it is done),
// whatever the number of files given.
import { readCapture } from "../capture/reader.ts";
import { STDIN } from "../capture/scan.ts";
import { DamagedInputError } from "../errors.ts";
import type { CaptureHeader, CaptureItem, LossRecord, SegmentInfo, SegmentItem } from "../event.ts";
import { keeps, segmentMayMatch, type EventFilter, type QueryItem } from "./filter.ts";
import { REORDER_WINDOW, REORDER_WINDOW_BYTES, ReorderWindow } from "./reorder.ts";

/**
 * Captures read at the same time. A rotation set's files follow each other in time, so
 * it takes one; captures of several hosts over the same hours take one each, and beyond
 * this many overlapping captures the order across them is best effort (nothing is
 * dropped).
 */
export const MAX_OPEN_CAPTURES = 16;

export interface MergeOptions {
  /**
   * Called with every loss record read, whatever the filter (a loss cannot be
   * attributed to a process or name); segments that hold any are then read.
   */
  onLoss?: (loss: LossRecord) => void;
  /**
   * Loss records come out in the stream too, in time order with the rest: those that
   * lossMatches() keeps (the time window; none with --events-only). Segments that hold
   * any are then read.
   */
  losses?: boolean;
  /**
   * Items held per capture to restore time order (default REORDER_WINDOW). 0: no time
   * order at all, for callers that only count: the captures are read one after another,
   * each in file order.
   */
  reorderWindow?: number;
}

/**
 * A capture whose header has been read: when it starts, and the reader to go on with for
 * standard input (which cannot be opened twice).
 */
export interface Source {
  file: string;
  startNs: bigint;
  reader: Generator<CaptureItem> | null;
  /**
   * The header of the reader its items come from: set when the reader reads it, before
   * any of its items comes out (standard input's, read first, is kept from the start).
   * Cleared once the capture is done, so that only open captures hold one.
   */
  header: CaptureHeader | null;
}

/** The capture the item last yielded came from, for mergedRecords. */
export interface Cursor {
  source: Source | null;
}

/**
 * How the records of one capture are read: a reader that yields the header and then
 * the capture's records in file order, which of them go on, and what each weighs in the
 * reorder window. Items (mergedItems) or records rendered to text by worker threads
 * (parallel.ts) go through the same windows and the same merge.
 */
export interface Reading<T extends { ts_ns: bigint }> {
  open(source: Source, skipSegment: (seg: SegmentInfo) => boolean): Generator<CaptureItem | T>;
  keep(record: T): boolean;
  weigh(record: T): number;
  /** the capture is done: its reader has ended or been left */
  close?(source: Source): void;
}

const isHeader = (v: { type: string }): v is CaptureHeader => v.type === "header";

function* recordsOf<T extends { ts_ns: bigint; type: string }>(
  source: Source,
  reading: Reading<T>,
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: MergeOptions,
): Generator<T> {
  const window = new ReorderWindow<T>({ items: opts.reorderWindow ?? REORDER_WINDOW, bytes: REORDER_WINDOW_BYTES, weigh: reading.weigh });
  const reader = reading.open(source, skipper(filter, opts));
  try {
    let first = true;
    for (const record of reader) {
      if (isHeader(record)) {
        // The reader's first item is the header of what follows; one in a segment (a
        // crafted file) is not a record, and does not stand for the capture's.
        if (first) source.header = record;
        first = false;
        continue;
      }
      first = false;
      if (!reading.keep(record as T)) continue;
      window.push(record as T);
      for (let out = window.overflow(); out; out = window.overflow()) yield out;
    }
  } catch (e) {
    if (!(e instanceof DamagedInputError)) throw e;
    damaged.push(e);
  } finally {
    reader.return(undefined);
    reading.close?.(source);
  }
  for (let out = window.shift(); out; out = window.shift()) yield out;
}

/** Decoded items, in this thread: the filter, and loss records as `opts` asks. */
function itemReading(filter: EventFilter, opts: MergeOptions): Reading<SegmentItem> {
  const onLoss = opts.onLoss;
  const losses = opts.losses === true;
  return {
    open: (source, skipSegment) => source.reader ?? readCapture(source.file, { skipSegment }),
    keep(item) {
      if (item.type === "loss") onLoss?.(item);
      return keeps(filter, item, losses);
    },
    weigh: itemBytes,
  };
}

/** The index lets the reader skip segments without a possible match. */
function skipper(filter: EventFilter, opts: MergeOptions): (seg: SegmentInfo) => boolean {
  const readLosses = opts.onLoss !== undefined || (opts.losses === true && !filter.eventsOnly);
  return (seg) => !segmentMayMatch(filter, seg) && !(readLosses && (seg.losses > 0 || seg.clock_steps > 0));
}

const size = (v: string | Uint8Array | null) => (v === null ? 0 : typeof v === "string" ? 2 * v.length : v.length);

// A decoded item's memory, roughly: its fixed fields, then what a file can make large.
function itemBytes(it: SegmentItem): number {
  if (it.type === "loss" || it.type === "clock") return 128;
  let n = 512 + size(it.comm) + size(it.parent_comm) + size(it.exe) + size(it.container_id) + size(it.errno);
  n += size(it.name_entry) + size(it.name_exit) + size(it.name_kernel) + size(it.name);
  for (let i = 0; i < it.flags_names.length; i++) n += 16 + size(it.flags_names[i]!);
  return n;
}

/**
 * Reads each capture's header, one file at a time, so that one that cannot be read
 * fails before any output; a damaged header goes into `damaged`. The files are closed
 * again, but for standard input, whose reader is kept.
 */
function sources(files: string[], filter: EventFilter, damaged: DamagedInputError[], opts: MergeOptions): Source[] {
  const out: Source[] = [];
  for (const file of files) {
    const reader = readCapture(file, { skipSegment: skipper(filter, opts) });
    try {
      // The reader's first item is always the header.
      const header = reader.next().value as CaptureHeader;
      const stdin = file === STDIN;
      out.push({ file, startNs: header.start_ns, reader: stdin ? reader : null, header: stdin ? header : null });
    } catch (e) {
      if (!(e instanceof DamagedInputError)) throw e;
      damaged.push(e);
    } finally {
      if (file !== STDIN) reader.return(undefined);
    }
  }
  return out;
}

/**
 * The items of `files` that match `filter`, earliest `ts_ns` first (an aggregate's is its
 * first call's, a loss record's when it was noticed), loss records among them only with
 * `opts.losses`. A capture that cannot be read fails before any output. A damaged capture
 * yields what is intact and its damage goes into `damaged`; the others go on. Captures are
 * opened in the order they start, when the stream reaches their start, at most
 * MAX_OPEN_CAPTURES at a time. Ending the iteration early closes every capture.
 */
export function mergedItems(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: MergeOptions & { losses: true },
): Generator<SegmentItem>;
export function mergedItems(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts?: MergeOptions & { losses?: false },
): Generator<QueryItem>;
export function mergedItems(files: string[], filter: EventFilter, damaged: DamagedInputError[], opts: MergeOptions = {}): Generator<SegmentItem> {
  return merge(files, filter, damaged, opts, { source: null }, itemReading(filter, opts));
}

/** An item and the header of the capture it was read from: that capture's one header object, shared by all its items. */
export interface MergedRecord {
  item: SegmentItem;
  header: CaptureHeader;
}

/**
 * mergedItems with loss records, each item with the header of its capture (export: the
 * host fields of a record come from its own capture, and one export may merge several
 * hosts'). Headers are not copied: only the open captures' are held.
 */
export function* mergedRecords(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: Omit<MergeOptions, "losses"> = {},
): Generator<MergedRecord> {
  const cursor: Cursor = { source: null };
  const all = { ...opts, losses: true };
  for (const item of merge(files, filter, damaged, all, cursor, itemReading(filter, all))) {
    yield { item, header: cursor.source!.header! };
  }
}

// `cursor.source` is the capture of the item just yielded: set before the items of a
// capture read on its own, and before each item where captures are merged.
export function* merge<T extends { ts_ns: bigint; type: string }>(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: MergeOptions,
  cursor: Cursor,
  reading: Reading<T>,
): Generator<T> {
  const pending = sources(files, filter, damaged, opts);
  if (opts.reorderWindow === 0) {
    for (const source of pending) {
      cursor.source = source;
      yield* recordsOf(source, reading, filter, damaged, opts);
      source.header = null;
    }
    return;
  }
  // Stable: captures that start together keep the order they were given in.
  pending.sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  const heads: { it: Generator<T>; next: T; source: Source }[] = [];
  let opened = 0;
  try {
    for (;;) {
      // Open the next capture once nothing earlier than its start is left, if there is room.
      while (opened < pending.length && heads.length < MAX_OPEN_CAPTURES && (heads.length === 0 || earliest(heads).next.ts_ns >= pending[opened]!.startNs)) {
        const source = pending[opened++]!;
        const it = recordsOf(source, reading, filter, damaged, opts);
        const first = it.next();
        if (!first.done) heads.push({ it, next: first.value, source });
        else source.header = null;
      }
      if (heads.length === 0) {
        if (opened === pending.length) return;
        continue;
      }
      const best = earliest(heads);
      cursor.source = best.source;
      yield best.next;
      const next = best.it.next();
      if (next.done) {
        heads.splice(heads.indexOf(best), 1);
        best.source.header = null;
      } else best.next = next.value;
    }
  } finally {
    for (const h of heads) h.it.return(undefined);
    // Standard input's reader was kept open from the start: close it if it was never reached.
    for (const s of pending.slice(opened)) s.reader?.return(undefined);
  }
}

function earliest<H extends { next: { ts_ns: bigint } }>(heads: H[]): H {
  let best = heads[0]!;
  for (const h of heads) if (h.next.ts_ns < best.next.ts_ns) best = h;
  return best;
}
