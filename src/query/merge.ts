// The matching events and aggregate records of several captures as one stream in time
// order, for query, export and stats. Each capture goes through its own bounded reorder
// window (reorder.ts: at most REORDER_WINDOW items and REORDER_WINDOW_BYTES), so memory
// is at most one window per capture, whatever the files' sizes.
import { readCapture } from "../capture/reader.ts";
import { DamagedInputError } from "../errors.ts";
import type { LossRecord, SegmentInfo } from "../event.ts";
import { matches, segmentMayMatch, type EventFilter, type QueryItem } from "./filter.ts";
import { REORDER_WINDOW, REORDER_WINDOW_BYTES, ReorderWindow } from "./reorder.ts";

export interface MergeOptions {
  /**
   * Called with every loss record read, whatever the filter (a loss cannot be
   * attributed to a process or name); segments that hold any are then read.
   */
  onLoss?: (loss: LossRecord) => void;
  /** items held per capture to restore time order (default REORDER_WINDOW; 0: file order) */
  reorderWindow?: number;
}

function* itemsOf(file: string, filter: EventFilter, damaged: DamagedInputError[], opts: MergeOptions): Generator<QueryItem> {
  const onLoss = opts.onLoss;
  // The index lets the reader skip segments without a possible match.
  const skipSegment = (seg: SegmentInfo) => !segmentMayMatch(filter, seg) && !(onLoss && seg.losses > 0);
  const window = new ReorderWindow<QueryItem>({
    items: opts.reorderWindow ?? REORDER_WINDOW,
    bytes: REORDER_WINDOW_BYTES,
    weigh: itemBytes,
  });
  try {
    for (const item of readCapture(file, { skipSegment })) {
      if (item.type === "event" || item.type === "aggregate") {
        if (!matches(filter, item)) continue;
        window.push(item);
        for (let out = window.overflow(); out; out = window.overflow()) yield out;
      } else if (item.type === "loss") {
        onLoss?.(item);
      }
    }
  } catch (e) {
    if (!(e instanceof DamagedInputError)) throw e;
    damaged.push(e);
  }
  for (let out = window.shift(); out; out = window.shift()) yield out;
}

const size = (v: string | Uint8Array | null) => (v === null ? 0 : typeof v === "string" ? 2 * v.length : v.length);

// A decoded item's memory, roughly: its fixed fields, then what a file can make large.
function itemBytes(it: QueryItem): number {
  let n = 512 + size(it.comm) + size(it.parent_comm) + size(it.exe) + size(it.container_id) + size(it.errno);
  n += size(it.name_entry) + size(it.name_exit) + size(it.name_kernel) + size(it.name);
  for (const f of it.flags_names) n += 16 + size(f);
  return n;
}

/**
 * The items of `files` that match `filter`, earliest `ts_ns` first (an aggregate's is its
 * first call's). Opens every capture before yielding anything, so that one that cannot be
 * read fails before any output. A damaged capture yields what is intact and its damage
 * goes into `damaged`; the others go on. Ending the iteration early closes every capture.
 */
export function* mergedItems(
  files: string[],
  filter: EventFilter,
  damaged: DamagedInputError[],
  opts: MergeOptions = {},
): Generator<QueryItem> {
  const heads: { it: Generator<QueryItem>; next: IteratorResult<QueryItem> }[] = [];
  try {
    for (const file of files) {
      const it = itemsOf(file, filter, damaged, opts);
      heads.push({ it, next: it.next() });
    }
    for (;;) {
      let best: (typeof heads)[number] | undefined;
      for (const h of heads) {
        if (h.next.done) continue;
        if (!best || h.next.value.ts_ns < (best.next.value as QueryItem).ts_ns) best = h;
      }
      if (!best) return;
      yield best.next.value as QueryItem;
      best.next = best.it.next();
    }
  } finally {
    for (const h of heads) h.it.return(undefined);
  }
}
