// `dmrec report` as data: what the first reader of an incident ticket asks of a capture,
// in one pass over its items (time order) beside `verify`'s verdict. Everything here
// is bounded whatever the capture holds: each list keeps its first MAX_LINES entries and
// counts the rest, and the groups (processes, names, floods) stop at MAX_GROUPS, what
// comes after is counted too. Values stay as the capture has them (bytes, bigints):
// the renderers escape them for their own syntax.
import type { KeyObject } from "node:crypto";
import type { DamagedInputError } from "../errors.ts";
import type { AggregateRecord, AggregateScope, ClockRecord, DmrecEvent, LossReason } from "../event.ts";
import type { EventFilter } from "../query/filter.ts";
import { type HistogramResult, HistogramTally } from "../query/histogram.ts";
import { mergedItems } from "../query/merge.ts";
import { MAX_GROUPS, textId } from "../query/stats.ts";
import type { FileVerification, VerifyKind, VerifyReport } from "../verify/kinds.ts";
import { verifyCaptures } from "../verify/sets.ts";

/** Entries kept per list; the rest are counted in `more`. */
export const MAX_LINES = 50;
/** Failed ENOENT calls for one name from which it is listed: a module hidden from lsmod is asked for again and again. */
export const HIDDEN_MIN_CALLS = 3;

/** A list that keeps its first MAX_LINES entries and counts the others. */
export interface Capped<T> {
  items: T[];
  /** entries beyond `items` */
  more: number;
}

/** Capped, filled one entry at a time. */
class CappedList<T> implements Capped<T> {
  readonly items: T[] = [];
  more = 0;

  add(v: T): void {
    if (this.items.length < MAX_LINES) this.items.push(v);
    else this.more++;
  }
}

/** Calls grouped by a key: how many, and over what span. */
export interface Group {
  calls: number;
  first: bigint;
  last: bigint;
}

/** The calls of one process made without CAP_SYS_MODULE. */
export interface UnprivilegedGroup extends Group {
  pid: number;
  uid: number;
  comm: string | Uint8Array;
  exe: string | null;
  /** the first few names it asked for */
  names: Uint8Array[];
  /** names beyond `names` */
  moreNames: number;
}

/** One name asked for again and again and not loaded (ENOENT), by anyone. */
export interface HiddenGroup extends Group {
  name: Uint8Array;
  /** distinct pids, counted up to MAX_KEPT + 1 ("more than 5") */
  processes: number;
}

/** The aggregate records of one flood: one process (or, scope all, everyone), one name, one result. */
export interface FloodGroup extends Group {
  scope: AggregateScope;
  pid: number | null;
  uid: number | null;
  comm: string | Uint8Array | null;
  name: Uint8Array | null;
  errno: string | null;
  records: number;
}

export interface ReportFacts {
  /** verify's findings, one per file given */
  captures: FileVerification[];
  /** the worst verdict, as verify exits with it */
  verdict: VerifyKind;
  /** set problems and notes: missing files, reordering across files */
  setProblems: string[];
  /** the first and last call selected */
  first: bigint | null;
  last: bigint | null;
  calls: number;
  events: number;
  aggregated: number;
  failed: number;
  unloads: Capped<DmrecEvent>;
  forced: Capped<DmrecEvent>;
  /** the name reads disagreed */
  toctou: Capped<DmrecEvent>;
  /** a name read failed, so no verdict could be given */
  toctouUnknown: number;
  unprivileged: Capped<UnprivilegedGroup>;
  /** calls without CAP_SYS_MODULE in all */
  unprivilegedCalls: number;
  hidden: Capped<HiddenGroup>;
  floods: Capped<FloodGroup>;
  losses: { records: number; calls: number; byReason: Partial<Record<LossReason, number>>; first: bigint | null; last: bigint | null };
  clockSteps: Capped<ClockRecord>;
  /** captures whose reading stopped early: the figures cover what came before */
  damaged: DamagedInputError[];
  /** groups beyond MAX_GROUPS were not told apart: their calls are in the counts only */
  groupsFull: boolean;
  timeline: HistogramResult;
}

export interface ReportOptions {
  publicKey?: KeyObject;
  pins?: string[];
}

/** Names kept per process, and pids told apart per name. */
export const MAX_KEPT = 5;

/** A bounded map of groups: once MAX_GROUPS are kept, calls of new keys are not grouped. */
class Groups<G extends Group> {
  readonly map = new Map<string, G>();
  full = false;

  take(key: string, ts: bigint, calls: number, make: () => G): G | null {
    let g = this.map.get(key);
    if (!g) {
      if (this.map.size >= MAX_GROUPS) {
        this.full = true;
        return null;
      }
      g = make();
      this.map.set(key, g);
    }
    g.calls += calls;
    if (ts < g.first) g.first = ts;
    if (ts > g.last) g.last = ts;
    return g;
  }

  /** Most calls first, then earliest. */
  sorted(min = 0): G[] {
    return [...this.map.values()].filter((g) => g.calls >= min).sort((a, b) => b.calls - a.calls || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  }
}

function cappedOf<T>(all: T[]): Capped<T> {
  return { items: all.slice(0, MAX_LINES), more: Math.max(0, all.length - MAX_LINES) };
}

/** Reads `files` through `filter` (losses and clock steps: within its time window) and verifies them. */
export function reportFacts(files: string[], filter: EventFilter, opts: ReportOptions = {}): ReportFacts {
  const verify: VerifyReport = verifyCaptures(files, { publicKey: opts.publicKey, pins: opts.pins });
  const damaged: DamagedInputError[] = [];
  const timeline = new HistogramTally();
  const unloads = new CappedList<DmrecEvent>();
  const forced = new CappedList<DmrecEvent>();
  const toctou = new CappedList<DmrecEvent>();
  const clockSteps = new CappedList<ClockRecord>();
  const unprivileged = new Groups<UnprivilegedGroup>();
  const hidden = new Groups<HiddenGroup & { pids: Set<number> }>();
  const floods = new Groups<FloodGroup>();
  const losses: ReportFacts["losses"] = { records: 0, calls: 0, byReason: {}, first: null, last: null };
  let first: bigint | null = null;
  let last: bigint | null = null;
  let failed = 0;
  let toctouUnknown = 0;
  let unprivilegedCalls = 0;

  const hiddenCall = (name: Uint8Array, ts: bigint, calls: number, pid: number | null) => {
    const g = hidden.take(textId(name), ts, calls, () => ({ name, calls: 0, first: ts, last: ts, processes: 0, pids: new Set() }));
    if (g && pid !== null && g.pids.size <= MAX_KEPT) g.pids.add(pid);
  };
  const onEvent = (e: DmrecEvent) => {
    if (e.ret === 0) (e.forced ? forced : unloads).add(e);
    else failed++;
    if (e.toctou === true) toctou.add(e);
    else if (e.toctou === null) toctouUnknown++;
    if (!e.cap_sys_module) {
      unprivilegedCalls++;
      const g = unprivileged.take(`${e.pid}\0${e.uid}\0${textId(e.comm)}`, e.ts_ns, 1, () => ({
        pid: e.pid,
        uid: e.uid,
        comm: e.comm,
        exe: e.exe,
        names: [],
        moreNames: 0,
        calls: 0,
        first: e.ts_ns,
        last: e.ts_ns,
      }));
      if (g && e.name !== null && !g.names.some((n) => Buffer.from(n).equals(e.name!))) {
        if (g.names.length < MAX_KEPT) g.names.push(e.name);
        else g.moreNames++;
      }
    }
    if (e.errno === "ENOENT" && e.name !== null) hiddenCall(e.name, e.ts_ns, 1, e.pid);
  };
  const onAggregate = (a: AggregateRecord) => {
    failed += a.count;
    const key = `${a.scope}\0${a.pid}\0${textId(a.comm)}\0${textId(a.name)}\0${a.errno}`;
    const g = floods.take(key, a.ts_ns, a.count, () => ({
      scope: a.scope,
      pid: a.pid,
      uid: a.uid,
      comm: a.comm,
      name: a.name,
      errno: a.errno,
      records: 0,
      calls: 0,
      first: a.ts_ns,
      last: a.last_ts_ns,
    }));
    if (g) {
      g.records++;
      if (a.last_ts_ns > g.last) g.last = a.last_ts_ns;
    }
    if (a.cap_sys_module === false) unprivilegedCalls += a.count;
    if (a.errno === "ENOENT" && a.name !== null) hiddenCall(a.name, a.ts_ns, a.count, a.pid);
  };

  for (const item of mergedItems(files, filter, damaged, { losses: true })) {
    if (item.type === "loss") {
      timeline.addLoss(item);
      losses.records++;
      losses.calls += item.count;
      losses.byReason[item.reason] = (losses.byReason[item.reason] ?? 0) + item.count;
      losses.first ??= item.ts_ns;
      losses.last = item.ts_ns;
      continue;
    }
    if (item.type === "clock") {
      clockSteps.add(item);
      continue;
    }
    timeline.add(item);
    const end = item.type === "aggregate" && item.last_ts_ns > item.ts_ns ? item.last_ts_ns : item.ts_ns;
    if (first === null || item.ts_ns < first) first = item.ts_ns;
    if (last === null || end > last) last = end;
    if (item.type === "event") onEvent(item);
    else onAggregate(item);
  }

  for (const g of hidden.map.values()) g.processes = g.pids.size;
  const timed = timeline.result();
  const setProblems = verify.sets.flatMap((s) => [...s.problems.map((p) => p.message), ...s.notes]);
  return {
    captures: verify.files,
    verdict: verify.kind,
    setProblems,
    first,
    last,
    calls: timed.totals.events + timed.totals.aggregated,
    events: timed.totals.events,
    aggregated: timed.totals.aggregated,
    failed,
    unloads,
    forced,
    toctou,
    toctouUnknown,
    unprivileged: cappedOf(unprivileged.sorted()),
    unprivilegedCalls,
    hidden: cappedOf(hidden.sorted(HIDDEN_MIN_CALLS).map(({ pids: _, ...g }) => g)),
    floods: cappedOf(floods.sorted()),
    losses,
    clockSteps,
    damaged,
    groupsFull: unprivileged.full || hidden.full || floods.full,
    timeline: timed,
  };
}
