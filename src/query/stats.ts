// `dmrec stats` as data: how many calls each (pid, comm, name, errno) made, individually
// recorded or aggregated, so that a flood is visible at a glance without listing it.
// Memory is one entry per distinct group, and groups are bounded: a crafted or
// flooded capture can hold a new pid or name in every item.
import type { DamagedInputError } from "../errors.ts";
import type { LossRecord } from "../event.ts";
import type { EventFilter, QueryItem } from "./filter.ts";
import { asBytes, escapeBytes } from "./escape.ts";
import { mergedItems } from "./merge.ts";

export interface StatsGroup {
  /** null for an aggregate of scope all, which keeps no process */
  pid: number | null;
  /** escaped text as `query --format json` shows it; null where the aggregate's scope keeps none, or (name) the read failed */
  comm: string | null;
  name: string | null;
  /** null for a successful call, and for an aggregate of scope all */
  errno: string | null;
  /** events + aggregated */
  calls: number;
  events: number;
  /** calls counted in aggregate records */
  aggregated: number;
  /** ns since the epoch of the first call and of the last */
  first: bigint;
  last: bigint;
}

export interface StatsTotals {
  /** events + aggregated + lost */
  calls: number;
  events: number;
  aggregated: number;
  /** calls the kernel side could not report: every loss record read, whatever the filter */
  lost: number;
}

export interface CaptureStats {
  totals: StatsTotals;
  /** most calls first; then earliest first call, then by key */
  groups: StatsGroup[];
  /** calls of the groups that did not fit under MAX_GROUPS (they are in the totals too) */
  other: StatsOther;
  /** captures that were damaged: the figures cover what was intact */
  damaged: DamagedInputError[];
}

export interface StatsOther {
  calls: number;
  events: number;
  aggregated: number;
}

/** Distinct groups kept; later ones are counted together in `other`. */
export const MAX_GROUPS = 10_000;

const text = (v: Uint8Array | string | null) => (v === null ? null : escapeBytes(asBytes(v)));

/** Reads `files` through the filter (losses unfiltered) and counts. */
export function captureStats(files: string[], filter: EventFilter): CaptureStats {
  const damaged: DamagedInputError[] = [];
  const tally = new StatsTally();
  // Counting needs no time order: no reorder window.
  const items = mergedItems(files, filter, damaged, { onLoss: (loss) => tally.addLoss(loss), reorderWindow: 0 });
  for (const item of items) tally.add(item);
  return { ...tally.result(), damaged };
}

/** The counting, for items that already passed the filter. */
export class StatsTally {
  private readonly groups = new Map<string, StatsGroup>();
  private readonly totals: StatsTotals = { calls: 0, events: 0, aggregated: 0, lost: 0 };
  private readonly other: StatsOther = { calls: 0, events: 0, aggregated: 0 };

  constructor(private readonly maxGroups = MAX_GROUPS) {}

  add(item: QueryItem): void {
    const g = this.groupOf(item) ?? this.other;
    if (item.type === "event") {
      g.events++;
      this.totals.events++;
    } else {
      g.aggregated += item.count;
      this.totals.aggregated += item.count;
    }
    g.calls = g.events + g.aggregated;
    if (g === this.other) return;
    const group = g as StatsGroup;
    const last = item.type === "event" ? item.ts_ns : item.last_ts_ns;
    if (item.ts_ns < group.first) group.first = item.ts_ns;
    if (last > group.last) group.last = last;
  }


  addLoss(loss: LossRecord): void {
    this.totals.lost += loss.count;
  }

  result(): Omit<CaptureStats, "damaged"> {
    const totals = { ...this.totals, calls: this.totals.events + this.totals.aggregated + this.totals.lost };
    const keyed = [...this.groups].sort(
      ([ka, a], [kb, b]) => b.calls - a.calls || cmp(a.first, b.first) || (ka < kb ? -1 : ka > kb ? 1 : 0),
    );
    return { totals, groups: keyed.map(([, g]) => ({ ...g })), other: { ...this.other } };
  }

  /** The item's group, or null when it would be a new one beyond maxGroups. */
  private groupOf(item: QueryItem): StatsGroup | null {
    const pid = item.pid;
    const comm = text(item.comm);
    const name = text(item.name);
    const errno = item.errno;
    // Escaped text holds no NUL: the fields cannot run into each other.
    const key = `${pid}\0${errno}\0${comm}\0${name}`;
    let g = this.groups.get(key);
    if (!g) {
      if (this.groups.size >= this.maxGroups) return null;
      g = { pid, comm, name, errno, calls: 0, events: 0, aggregated: 0, first: item.ts_ns, last: item.ts_ns };
      this.groups.set(key, g);
    }
    return g;
  }
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
