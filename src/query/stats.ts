// `dmrec stats` as data: how many calls each group made, individually recorded or
// aggregated, so that a flood is visible at a glance without listing it. A group is,
// by default, one (pid, comm, name, errno); `--by` picks other keys (module, process,
// errno, hour, uid, or several of them). Memory is one entry per distinct group, and
// groups are bounded: a crafted or flooded capture can hold a new pid or name in every
// item. Loss records name no call, so they count in the totals only.
import { type DamagedInputError, UsageError } from "../errors.ts";
import type { LossRecord } from "../event.ts";
import type { EventFilter, QueryItem } from "./filter.ts";
import { asBytes, escapeBytes } from "./escape.ts";
import { mergedItems } from "./merge.ts";
import { floorDiv, nsToIso } from "./time.ts";

/** What every group counts, whatever its key. */
export interface StatsCounts {
  /** events + aggregated */
  calls: number;
  events: number;
  /** calls counted in aggregate records */
  aggregated: number;
  /** ns since the epoch of the first call and of the last */
  first: bigint;
  last: bigint;
}

/** The default key: one process, name and result. */
export interface StatsKey {
  /** null for an aggregate of scope all, which keeps no process */
  pid: number | null;
  /** escaped text as `query --format json` shows it; null where the aggregate's scope keeps none, or (name) the read failed */
  comm: string | null;
  name: string | null;
  /** null for a successful call, and for an aggregate of scope all */
  errno: string | null;
}

export type StatsGroup = StatsKey & StatsCounts;

/** `--by` keys. */
export const STATS_BY = ["module", "process", "errno", "hour", "uid"] as const;
export type StatsBy = (typeof STATS_BY)[number];

/**
 * A `--by` group's key: only the fields of the keys chosen, in their order
 * (process is two fields, pid and comm). Text is escaped as in StatsKey.
 */
export interface ByKey {
  /** module: the name; null where the aggregate's scope keeps none, or the read failed */
  name?: string | null;
  /** process: null for an aggregate of scope all */
  pid?: number | null;
  comm?: string | null;
  /**
   * errno: "ok", the errno name (ENOENT, or E<n> for one without a name), or "failed"
   * for an aggregate of scope all (its calls all failed; which errno was not kept)
   */
  result?: string;
  /** hour: the UTC hour of the call, `2025-11-26T00`; an aggregate's is its first call's */
  hour?: string;
  /** uid: null for an aggregate of scope all */
  uid?: number | null;
}

export type ByGroup = ByKey & StatsCounts;

export interface StatsTotals {
  /** events + aggregated + lost */
  calls: number;
  events: number;
  aggregated: number;
  /** calls the kernel side could not report: every loss record read, whatever the filter */
  lost: number;
}

export interface StatsOther {
  calls: number;
  events: number;
  aggregated: number;
}

export interface StatsResult<G extends StatsCounts> {
  totals: StatsTotals;
  /** most calls first; then earliest first call, then by key */
  groups: G[];
  /** calls of the groups that did not fit under MAX_GROUPS (they are in the totals too) */
  other: StatsOther;
}

export interface CaptureStats extends StatsResult<StatsGroup> {
  /** captures that were damaged: the figures cover what was intact */
  damaged: DamagedInputError[];
}

export interface CaptureStatsBy extends StatsResult<ByGroup> {
  /** the keys, in the order given */
  by: StatsBy[];
  damaged: DamagedInputError[];
}

/** Distinct groups kept; later ones are counted together in `other`. */
export const MAX_GROUPS = 10_000;

const text = (v: Uint8Array | string | null) => (v === null ? null : escapeBytes(asBytes(v)));

/**
 * A group key: `id` tells groups apart (and orders equal ones); `fields` is what the
 * group shows, computed once per new group. Ids join fields with NUL, which escaped
 * text never holds; a missing text is \x01, which it never holds either, so a name
 * that is literally "null" is not the unreadable name.
 */
export interface GroupKey<K> {
  id(item: QueryItem): string;
  fields(item: QueryItem): K;
}

/** A text as a part of a group id (GroupKey): escaped, \x01 for none. */
export const textId = (v: Uint8Array | string | null) => (v === null ? "\x01" : escapeBytes(asBytes(v)));

const DEFAULT_KEY: GroupKey<StatsKey> = {
  id: (item) => `${item.pid}\0${item.errno}\0${textId(item.comm)}\0${textId(item.name)}`,
  fields: (item) => ({ pid: item.pid, comm: text(item.comm), name: text(item.name), errno: item.errno }),
};

const NS_PER_HOUR = 3_600_000_000_000n;

/** Successful calls are events with no errno; an aggregate's calls all failed, its errno kept or not. */
export const resultOf = (item: QueryItem): string => item.errno ?? (item.type === "event" ? "ok" : "failed");

/** An aggregate's hour is its first call's: when the rest came within its span is not recorded. */
const hourOf = (item: QueryItem) => floorDiv(item.ts_ns, NS_PER_HOUR);
const hourText = (hour: bigint) => nsToIso(hour * NS_PER_HOUR, 0).replace(/:00:00Z$/, "");

/** One --by key's part of the id, and its fields. */
const BY_PARTS: Record<StatsBy, { id(item: QueryItem): string; fields(item: QueryItem): ByKey }> = {
  module: { id: (it) => textId(it.name), fields: (it) => ({ name: text(it.name) }) },
  process: { id: (it) => `${it.pid}\0${textId(it.comm)}`, fields: (it) => ({ pid: it.pid, comm: text(it.comm) }) },
  errno: { id: resultOf, fields: (it) => ({ result: resultOf(it) }) },
  // Hours since the epoch have the same number of digits for centuries: ids sort in time order.
  hour: { id: (it) => String(hourOf(it)), fields: (it) => ({ hour: hourText(hourOf(it)) }) },
  uid: { id: (it) => String(it.uid), fields: (it) => ({ uid: it.uid }) },
};

/** The key of `--by` values, already parsed (parseStatsBy). */
export function byKey(by: readonly StatsBy[]): GroupKey<ByKey> {
  const parts = by.map((b) => BY_PARTS[b]);
  if (parts.length === 1) return parts[0]!;
  return {
    id: (item) => parts.map((p) => p.id(item)).join("\0"),
    fields: (item) => Object.assign({}, ...parts.map((p) => p.fields(item))) as ByKey,
  };
}

/**
 * `--by`: a key, or a comma-separated list of keys (`module,errno`) for a composite
 * key in the order given; any case, spaces around a key ignored. An unknown, missing
 * or repeated key is a usage error. Not given: null (the default key).
 */
export function parseStatsBy(value: string | undefined): StatsBy[] | null {
  if (value === undefined) return null;
  const by: StatsBy[] = [];
  for (const part of value.split(",")) {
    const key = part.trim().toLowerCase();
    if (key === "") throw new UsageError(`--by: expected ${STATS_BY.join(", ")} or a comma list of them, got ${JSON.stringify(value)}`);
    if (!(STATS_BY as readonly string[]).includes(key)) {
      throw new UsageError(`--by: unknown key ${JSON.stringify(part.trim())} (use ${STATS_BY.join(", ")}, or a comma list of them)`);
    }
    if (by.includes(key as StatsBy)) throw new UsageError(`--by: ${key} given more than once in ${JSON.stringify(value)}`);
    by.push(key as StatsBy);
  }
  return by;
}

/** What reads a selection: every item that passed the filter, and every loss record. */
export interface SelectionSink {
  add(item: QueryItem): void;
  addLoss(loss: LossRecord): void;
}

/** Reads `files` through the filter (losses unfiltered) into `sink`; returns the damaged captures. */
export function readSelection(files: string[], filter: EventFilter, sink: SelectionSink): DamagedInputError[] {
  const damaged: DamagedInputError[] = [];
  // Counting needs no time order: no reorder window.
  const items = mergedItems(files, filter, damaged, { onLoss: (loss) => sink.addLoss(loss), reorderWindow: 0 });
  for (const item of items) sink.add(item);
  return damaged;
}

/** Reads `files` through the filter (losses unfiltered) and counts per (pid, comm, name, errno). */
export function captureStats(files: string[], filter: EventFilter): CaptureStats {
  const tally = new StatsTally();
  const damaged = readSelection(files, filter, tally);
  return { ...tally.result(), damaged };
}

/** The same, grouped by the `--by` keys. */
export function captureStatsBy(files: string[], filter: EventFilter, by: StatsBy[]): CaptureStatsBy {
  const tally = new StatsTally(MAX_GROUPS, byKey(by));
  const damaged = readSelection(files, filter, tally);
  return { by, ...tally.result(), damaged };
}

/** The counting, for items that already passed the filter. */
export class StatsTally<K extends object = StatsKey> implements SelectionSink {
  private readonly groups = new Map<string, K & StatsCounts>();
  private readonly totals: StatsTotals = { calls: 0, events: 0, aggregated: 0, lost: 0 };
  private readonly other: StatsOther = { calls: 0, events: 0, aggregated: 0 };

  constructor(
    private readonly maxGroups = MAX_GROUPS,
    private readonly key: GroupKey<K> = DEFAULT_KEY as unknown as GroupKey<K>,
  ) {}

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
    const group = g as StatsCounts;
    const last = item.type === "event" ? item.ts_ns : item.last_ts_ns;
    if (item.ts_ns < group.first) group.first = item.ts_ns;
    if (last > group.last) group.last = last;
  }

  addLoss(loss: LossRecord): void {
    this.totals.lost += loss.count;
  }

  result(): StatsResult<K & StatsCounts> {
    const totals = { ...this.totals, calls: this.totals.events + this.totals.aggregated + this.totals.lost };
    const keyed = [...this.groups].sort(
      ([ka, a], [kb, b]) => b.calls - a.calls || cmp(a.first, b.first) || (ka < kb ? -1 : ka > kb ? 1 : 0),
    );
    return { totals, groups: keyed.map(([, g]) => ({ ...g })), other: { ...this.other } };
  }

  /** The item's group, or null when it would be a new one beyond maxGroups. */
  private groupOf(item: QueryItem): (K & StatsCounts) | null {
    const id = this.key.id(item);
    let g = this.groups.get(id);
    if (!g) {
      if (this.groups.size >= this.maxGroups) return null;
      // The key's fields first: they lead in JSON, in the order of the key.
      g = { ...this.key.fields(item), calls: 0, events: 0, aggregated: 0, first: item.ts_ns, last: item.ts_ns };
      this.groups.set(id, g);
    }
    return g;
  }
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
