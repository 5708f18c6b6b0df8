// `dmrec stats --histogram` as data: calls per time bucket, ok and failed apart, every
// bucket from the first call's to the last call's (an empty one is a gap, and gaps
// matter). Bucket starts are whole multiples of the size since the epoch, so the same
// call lands in the same bucket whatever else was selected.
//
// Memory is bounded by the number of buckets, not by the calls: only buckets that hold
// something are kept, automatic sizes stay at AUTO_BUCKETS or fewer, and a --bucket
// that would need more than MAX_BUCKETS is refused. Time order is not needed: the
// finer buckets merge into coarser ones when the range grows.
import { type DamagedInputError, UsageError } from "../errors.ts";
import type { LossRecord } from "../event.ts";
import type { EventFilter, QueryItem } from "./filter.ts";
import { readSelection, type SelectionSink, type StatsTotals } from "./stats.ts";
import { floorDiv, nsToDuration, nsToIso } from "./time.ts";

/** An automatic size gives at most this many buckets (a screenful). */
export const AUTO_BUCKETS = 40;
/** A --bucket size may give at most this many. */
export const MAX_BUCKETS = 10_000;

const MS = 1_000_000n;
const S = 1000n * MS;
const DAY = 86_400n * S;
/** Automatic sizes, finest first; each a whole multiple of the one before, so merging finer buckets is exact. */
const AUTO_SIZES = [MS, 10n * MS, 100n * MS, S, 10n * S, 60n * S, 600n * S, 3600n * S, DAY];
/** Past a day, ten times the size before (a crafted capture may span centuries). */
const nextAutoSize = (size: bigint) => AUTO_SIZES.find((s) => s > size) ?? size * 10n;

export interface HistogramBucket {
  /** ns since the epoch; a whole multiple of bucket_ns */
  start: bigint;
  /** events + aggregated = ok + failed */
  calls: number;
  events: number;
  /** calls of the aggregates that began in this bucket (they all failed) */
  aggregated: number;
  ok: number;
  failed: number;
  /** forced unloads (O_TRUNC, succeeded): some of the ok calls */
  forced: number;
  /**
   * aggregates that began in an earlier bucket and whose last call is in this one or
   * later: some of their calls may have been made here, but all are counted where the
   * aggregate began (a record keeps its first and last call's time, nothing between)
   */
  spanning: number;
}

export interface HistogramResult {
  /** the bucket size in ns: --bucket's, or the automatic one */
  bucket_ns: bigint;
  /** the same totals as stats: lost calls have no call time, so they are here only */
  totals: StatsTotals;
  /** in time order, from the first call's bucket to the last call's, empty ones included */
  buckets: HistogramBucket[];
}

export interface CaptureHistogram extends HistogramResult {
  damaged: DamagedInputError[];
}

/** --bucket's milliseconds (parseDuration) as ns; at least one. */
export function bucketFromMs(ms: number, option = "--bucket"): bigint {
  if (!Number.isFinite(ms)) throw new UsageError(`${option}: too large`);
  const ns = BigInt(Math.round(ms * 1e6));
  if (ns < 1n) throw new UsageError(`${option}: must be at least 1ns`);
  return ns;
}

/** Reads `files` through the filter (losses unfiltered) and counts per time bucket; `bucketNs` null: automatic. */
export function captureHistogram(files: string[], filter: EventFilter, bucketNs: bigint | null): CaptureHistogram {
  const tally = new HistogramTally(bucketNs);
  const damaged = readSelection(files, filter, tally);
  return { ...tally.result(), damaged };
}

/** A bucket that holds something; aggStarts and aggEnds mark aggregates that span buckets. */
interface Cell {
  events: number;
  aggregated: number;
  ok: number;
  forced: number;
  /** aggregates whose first call is here and whose last call is in a later bucket */
  aggStarts: number;
  /** the same aggregates, in the bucket of their last call */
  aggEnds: number;
}

const newCell = (): Cell => ({ events: 0, aggregated: 0, ok: 0, forced: 0, aggStarts: 0, aggEnds: 0 });

/** The counting, for items that already passed the filter. */
export class HistogramTally implements SelectionSink {
  private size: bigint;
  private readonly auto: boolean;
  /** by bucket number (start / size) */
  private cells = new Map<bigint, Cell>();
  /** the earliest and latest call time */
  private lo: bigint | null = null;
  private hi: bigint | null = null;
  /** --bucket would give more than MAX_BUCKETS: cells are no longer kept, result() refuses */
  private tooMany = false;
  private readonly totals: StatsTotals = { calls: 0, events: 0, aggregated: 0, lost: 0 };

  /** `bucketNs` null: the finest automatic size that gives at most AUTO_BUCKETS. */
  constructor(bucketNs: bigint | null = null) {
    if (bucketNs !== null && bucketNs < 1n) throw new RangeError("bucket size must be positive");
    this.auto = bucketNs === null;
    this.size = bucketNs ?? AUTO_SIZES[0]!;
  }

  add(item: QueryItem): void {
    // An aggregate's calls all go to its first call's bucket: where the others fell
    // within its span is not recorded, and spreading them out would make up a shape.
    // Its span still widens the range and marks the later buckets it reaches.
    const first = item.ts_ns;
    const last = item.type === "aggregate" && item.last_ts_ns > first ? item.last_ts_ns : first;
    if (item.type === "event") this.totals.events++;
    else this.totals.aggregated += item.count;
    if (this.lo === null || first < this.lo) this.lo = first;
    if (this.hi === null || last > this.hi) this.hi = last;
    if (this.auto) {
      while (this.bucketCount(this.size) > AUTO_BUCKETS) this.coarsen();
    } else if (this.tooMany || this.bucketCount(this.size) > MAX_BUCKETS) {
      // Keep reading for the range, so the error can say what size would do.
      this.tooMany = true;
      this.cells.clear();
      return;
    }
    const at = floorDiv(first, this.size);
    const cell = this.cell(at);
    if (item.type === "event") {
      cell.events++;
      if (item.ret === 0) {
        cell.ok++;
        if (item.forced) cell.forced++;
      }
    } else {
      cell.aggregated += item.count;
      const end = floorDiv(last, this.size);
      if (end > at) {
        cell.aggStarts++;
        this.cell(end).aggEnds++;
      }
    }
  }

  addLoss(loss: LossRecord): void {
    this.totals.lost += loss.count;
  }

  result(): HistogramResult {
    const totals = { ...this.totals, calls: this.totals.events + this.totals.aggregated + this.totals.lost };
    if (this.tooMany) throw this.tooManyError();
    const buckets: HistogramBucket[] = [];
    if (this.lo !== null && this.hi !== null) {
      // Aggregates open at a bucket: begun before it (aggStarts), not ended before it (aggEnds).
      let open = 0;
      for (let at = floorDiv(this.lo, this.size), end = floorDiv(this.hi, this.size); at <= end; at++) {
        const c = this.cells.get(at) ?? newCell();
        const calls = c.events + c.aggregated;
        buckets.push({
          start: at * this.size,
          calls,
          events: c.events,
          aggregated: c.aggregated,
          ok: c.ok,
          failed: calls - c.ok,
          forced: c.forced,
          spanning: open,
        });
        open += c.aggStarts - c.aggEnds;
      }
    }
    return { bucket_ns: this.size, totals, buckets };
  }

  private bucketCount(size: bigint): bigint {
    return this.lo === null || this.hi === null ? 0n : floorDiv(this.hi, size) - floorDiv(this.lo, size) + 1n;
  }

  private cell(at: bigint): Cell {
    let c = this.cells.get(at);
    if (!c) this.cells.set(at, (c = newCell()));
    return c;
  }

  /** The next automatic size: each bucket merges into the one holding its start. */
  private coarsen(): void {
    const next = nextAutoSize(this.size);
    const factor = next / this.size;
    const merged = new Map<bigint, Cell>();
    for (const [at, c] of this.cells) {
      const to = floorDiv(at, factor);
      const m = merged.get(to);
      if (!m) {
        merged.set(to, c);
        continue;
      }
      m.events += c.events;
      m.aggregated += c.aggregated;
      m.ok += c.ok;
      m.forced += c.forced;
      // An aggregate that now begins and ends in one bucket counts in both: they cancel.
      m.aggStarts += c.aggStarts;
      m.aggEnds += c.aggEnds;
    }
    this.cells = merged;
    this.size = next;
  }

  private tooManyError(): UsageError {
    const count = this.bucketCount(this.size);
    let fits = AUTO_SIZES[0]!;
    while (this.bucketCount(fits) > MAX_BUCKETS) fits = nextAutoSize(fits);
    return new UsageError(
      `--bucket ${nsToDuration(this.size)}: the calls selected, ${nsToIso(this.lo!)} to ${nsToIso(this.hi!)}, ` +
        `need ${count} buckets, more than ${MAX_BUCKETS} (use --bucket ${nsToDuration(fits)} or more, or narrow with --since/--until)`,
    );
  }
}
