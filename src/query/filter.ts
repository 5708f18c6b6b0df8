// Filters shared by `dmrec query`, `export` and `stats`: user input in, a predicate over
// events and aggregate records out. Every bad value is a UsageError with one line naming
// the option.
//
// An aggregate stands for many failing calls and keeps only its first call's context, as
// far as its scope does: a filter on a field the aggregate does not keep (null) never
// matches it, times match when its span [ts_ns, last_ts_ns] overlaps the window, and
// `--result ok` and `--forced` never match it (aggregated calls all failed).
//
// A loss record counts calls nobody can attribute to a process, a name or a result, so
// that they might be any of the calls a filter asks for: only the time window applies to
// it (its `ts_ns`, when user space noticed the loss), and `--events-only`, which leaves it
// out with the aggregates. Every other filter keeps it (lossMatches). A clock record (the
// wall clock stepped) is context for every call after it: the same rules.
//
// Module and comm patterns work on bytes, because names in a capture are bytes that need
// not be UTF-8. A pattern uses the same escapes the output shows, so a name can be copied
// from `query` output into `--module` (a *, ? or [ in it then needs a backslash):
//   \xNN  the byte NN          \\  a backslash        \* \? \[ \]  that character itself
//   *     any bytes (also none)   ?  exactly one byte   [abc] [a-z] [!a-z] [^a-z]  one byte
//   any other character: its UTF-8 bytes (so `?` matches one byte of an é, not all of it)
// A pattern without *, ? or [ is an exact name. Matching is case-sensitive, as the kernel's.

import type { AggregateRecord, ClockRecord, DmrecEvent, LossRecord, SegmentInfo, SegmentItem } from "../event.ts";
import { UsageError } from "../errors.ts";
import { errnoValue } from "../names.ts";
import { asBytes } from "./escape.ts";
import { dateToNs, nsToIso, parseIsoNs } from "./time.ts";

export interface FilterOptions {
  module?: readonly string[];
  /** numbers from the CLI, or the raw strings (then they are checked here) */
  pid?: readonly (number | string)[];
  ppid?: readonly (number | string)[];
  uid?: readonly (number | string)[];
  comm?: readonly string[];
  result?: string;
  since?: string;
  until?: string;
  /** true: only forced unloads; false or absent: no constraint */
  forced?: boolean;
  /** true: only calls whose name reads disagree (toctou true); false or absent: no constraint */
  toctou?: boolean;
  /** true: individual events only, no aggregate records and no loss records */
  eventsOnly?: boolean;
}

/** What query, export and stats read from a capture besides loss records. */
export type QueryItem = DmrecEvent | AggregateRecord;

export type ResultFilter =
  | { kind: "ok" }
  | { kind: "failed" }
  /** a failed call whose -ret is `errno` */
  | { kind: "errno"; errno: number };

/** A parsed filter; null fields do not constrain. Several values of one option are OR'ed. */
export interface EventFilter {
  readonly module: BytesPredicate | null;
  readonly pid: ReadonlySet<number> | null;
  readonly ppid: ReadonlySet<number> | null;
  readonly uid: ReadonlySet<number> | null;
  readonly comm: BytesPredicate | null;
  readonly result: ResultFilter | null;
  /** inclusive */
  readonly sinceNs: bigint | null;
  /** exclusive */
  readonly untilNs: bigint | null;
  readonly forced: boolean;
  readonly toctou: boolean;
  readonly eventsOnly: boolean;
}

export type BytesPredicate = (bytes: Uint8Array) => boolean;

const TIME_HINT = "use ISO 8601 like 2026-11-26T10:00:00Z or a relative time like 2h, 30m, 90s, 1d";

/**
 * Validates user input into an EventFilter. `now` anchors relative times (`2h` = now minus
 * two hours), so one command sees one consistent window.
 * Times: ISO 8601 (UTC when no zone is given) or `N` followed by s, m, h or d.
 * Results: `ok`, `failed`, an errno name (`ENOENT`, aliases like `EWOULDBLOCK`) or `E<n>`
 * as shown for errnos without a name; any case.
 */
export function parseFilter(opts: FilterOptions, now: Date): EventFilter {
  const nowNs = dateToNs(now);
  const sinceNs = opts.since === undefined ? null : parseTime("--since", opts.since, nowNs);
  const untilNs = opts.until === undefined ? null : parseTime("--until", opts.until, nowNs);
  if (sinceNs !== null && untilNs !== null && sinceNs > untilNs) {
    throw new UsageError(
      `--since ${JSON.stringify(opts.since)} (${nsToIso(sinceNs)}) is later than ` +
        `--until ${JSON.stringify(opts.until)} (${nsToIso(untilNs)})`,
    );
  }
  return {
    module: parsePatterns("--module", opts.module),
    pid: parseIds("--pid", opts.pid),
    ppid: parseIds("--ppid", opts.ppid),
    uid: parseIds("--uid", opts.uid),
    comm: parsePatterns("--comm", opts.comm),
    result: opts.result === undefined ? null : parseResult(opts.result),
    sinceNs,
    untilNs,
    forced: opts.forced === true,
    toctou: opts.toctou === true,
    eventsOnly: opts.eventsOnly === true,
  };
}

const utf8 = new TextEncoder();

/**
 * Whether a segment, by its index entry, can hold an item the filter keeps.
 * The entry only lets the reader skip work, and only for what it indexes:
 * module names and times (--module, --since, --until). Without one of those
 * every segment is read, whatever its entry says, so that a lying entry
 * (`events: 0`) cannot hide a segment from a plain query; a segment it cannot
 * rule out is read and every item still goes through matches(). Its module
 * names and time range describe events only, so they cannot rule out a
 * segment that holds aggregates (files written before aggregates existed say
 * `aggregates: 0`).
 */
export function segmentMayMatch(f: EventFilter, seg: SegmentInfo): boolean {
  if (f.module === null && f.sinceNs === null && f.untilNs === null) return true;
  if (seg.aggregates > 0 && !f.eventsOnly) return true;
  if (seg.events === 0) return false;
  if (f.module && seg.modules_complete && !seg.modules.some(f.module)) return false;
  if (f.sinceNs !== null && seg.last_ts_ns !== null && seg.last_ts_ns < f.sinceNs) return false;
  if (f.untilNs !== null && seg.first_ts_ns !== null && seg.first_ts_ns >= f.untilNs) return false;
  return true;
}

/** Whether the filter keeps an event or an aggregate (rules for aggregates at the top of this file). */
export function matches(f: EventFilter, item: QueryItem): boolean {
  if (item.type === "event") {
    if (f.sinceNs !== null && item.ts_ns < f.sinceNs) return false;
    if (f.untilNs !== null && item.ts_ns >= f.untilNs) return false;
    if (f.forced && !item.forced) return false;
    if (f.result && !resultMatches(f.result, item.ret)) return false;
  } else {
    if (f.eventsOnly || f.forced) return false;
    if (f.sinceNs !== null && item.last_ts_ns < f.sinceNs) return false;
    if (f.untilNs !== null && item.ts_ns >= f.untilNs) return false;
    if (f.result && (f.result.kind === "ok" || item.ret === null || !resultMatches(f.result, item.ret))) return false;
  }
  if (f.pid && (item.pid === null || !f.pid.has(item.pid))) return false;
  if (f.ppid && (item.ppid === null || !f.ppid.has(item.ppid))) return false;
  if (f.uid && (item.uid === null || !f.uid.has(item.uid))) return false;
  if (f.toctou && item.toctou !== true) return false;
  if (f.module && (item.name === null || !f.module(item.name))) return false;
  if (f.comm && (item.comm === null || !f.comm(asBytes(item.comm)))) return false;
  return true;
}

/** The calls a record stands for: an event one, an aggregate its count, a loss record none (lost calls are nobody's). */
export const callsOf = (item: SegmentItem): number => (item.type === "event" ? 1 : item.type === "aggregate" ? item.count : 0);

/**
 * Whether a record read from a capture goes on: events and aggregates by the filter,
 * loss and clock records only when `losses` (query and export) and by lossMatches.
 */
export function keeps(f: EventFilter, item: SegmentItem, losses: boolean): boolean {
  return item.type === "loss" || item.type === "clock" ? losses && lossMatches(f, item) : matches(f, item);
}

/**
 * Whether query and export show a loss record: within --since/--until by the time the loss
 * was noticed, unless --events-only; whatever the other filters, since its calls may be
 * any of those they ask for (rules at the top of this file).
 */
export function lossMatches(f: EventFilter, loss: LossRecord | ClockRecord): boolean {
  if (f.eventsOnly) return false;
  if (f.sinceNs !== null && loss.ts_ns < f.sinceNs) return false;
  if (f.untilNs !== null && loss.ts_ns >= f.untilNs) return false;
  return true;
}

function resultMatches(r: ResultFilter, ret: number): boolean {
  switch (r.kind) {
    case "ok":
      return ret === 0;
    case "failed":
      return ret !== 0;
    case "errno":
      return -ret === r.errno;
  }
}

function parseResult(text: string): ResultFilter {
  const t = text.trim().toLowerCase();
  if (t === "ok" || t === "failed") return { kind: t };
  const named = errnoValue(t);
  if (named !== undefined) return { kind: "errno", errno: named };
  const raw = /^e(\d{1,4})$/.exec(t);
  if (raw && Number(raw[1]) > 0) return { kind: "errno", errno: Number(raw[1]) };
  throw new UsageError(
    `--result: unknown value ${JSON.stringify(text)} (use ok, failed or an errno name like ENOENT)`,
  );
}

function parseTime(option: string, text: string, nowNs: bigint): bigint {
  const rel = /^(\d{1,15})([smhd])$/i.exec(text.trim());
  if (rel) {
    const unit = { s: 1n, m: 60n, h: 3600n, d: 86400n }[rel[2]!.toLowerCase() as "s" | "m" | "h" | "d"];
    return nowNs - BigInt(rel[1]!) * unit * 1_000_000_000n;
  }
  const iso = parseIsoNs(text.trim());
  if (iso.ok) return iso.ns;
  if (iso.problem !== null) throw new UsageError(`${option}: invalid time ${JSON.stringify(text)}: ${iso.problem}`);
  throw new UsageError(`${option}: cannot parse ${JSON.stringify(text)} (${TIME_HINT})`);
}

// Linux ids (pid, uid) are unsigned 32-bit; uid 4294967295 is "no uid" but still a value.
function parseIds(option: string, values: readonly (number | string)[] | undefined): ReadonlySet<number> | null {
  if (!values || values.length === 0) return null;
  const ids = new Set<number>();
  for (const v of values) {
    const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new UsageError(`${option}: ${JSON.stringify(String(v))} is not a valid id (a whole number >= 0)`);
    }
    ids.add(n);
  }
  return ids;
}

function parsePatterns(option: string, patterns: readonly string[] | undefined): BytesPredicate | null {
  if (!patterns || patterns.length === 0) return null;
  const compiled = patterns.map((p) => compileGlob(option, p));
  return (bytes) => compiled.some((tokens) => globMatch(tokens, bytes));
}

/** One pattern element: a byte, a set of bytes (256 flags), or null for `*`. */
type Token = number | Uint8Array | null;

/** Compiles a byte glob (syntax at the top of this file). */
function compileGlob(option: string, pattern: string): Token[] {
  const fail = (problem: string): never => {
    throw new UsageError(`${option}: ${problem} in pattern ${JSON.stringify(pattern)}`);
  };
  const chars = [...pattern];
  let i = 0;
  // Reads one literal element at chars[i] (an escape or a character) as bytes.
  const literal = (): number[] => {
    const c = chars[i++]!;
    if (c !== "\\") return [...utf8.encode(c)];
    const next = chars[i++];
    if (next === undefined) return fail('"\\" at the end');
    if (next !== "x") return [...utf8.encode(next)];
    const hex = chars.slice(i, i + 2).join("");
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return fail('"\\x" without two hex digits');
    i += 2;
    return [parseInt(hex, 16)];
  };
  const classByte = (): number => {
    const bytes = literal();
    if (bytes.length !== 1) return fail('"[...]" with a character that is not one byte (write it as \\xNN)');
    return bytes[0]!;
  };
  const tokens: Token[] = [];
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === "*") {
      i++;
      if (tokens[tokens.length - 1] !== null) tokens.push(null);
    } else if (c === "?") {
      i++;
      tokens.push(new Uint8Array(256).fill(1));
    } else if (c === "[") {
      i++;
      const negate = chars[i] === "!" || chars[i] === "^";
      if (negate) i++;
      const set = new Uint8Array(256);
      let first = true;
      while (i < chars.length && (chars[i] !== "]" || first)) {
        first = false;
        const at = i;
        const lo = classByte();
        if (chars[i] === "-" && i + 1 < chars.length && chars[i + 1] !== "]") {
          i++;
          const hi = classByte();
          if (hi < lo) fail(`reversed range "${chars.slice(at, i).join("")}"`);
          set.fill(1, lo, hi + 1);
        } else {
          set[lo] = 1;
        }
      }
      if (i >= chars.length) fail('"[" without "]"');
      i++;
      tokens.push(negate ? set.map((b) => 1 - b) : set);
    } else {
      tokens.push(...literal());
    }
  }
  return tokens;
}

// Iterative matching with one backtrack point (the last `*`): O(pattern x name) at worst,
// never exponential, whatever a hostile pattern or name looks like.
function globMatch(tokens: Token[], s: Uint8Array): boolean {
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = 0;
  while (i < s.length) {
    const t = tokens[p];
    if (t === null) {
      starP = p++;
      starI = i;
    } else if (t !== undefined && (typeof t === "number" ? t === s[i] : t[s[i]!] === 1)) {
      p++;
      i++;
    } else if (starP >= 0) {
      p = starP + 1;
      i = ++starI;
    } else {
      return false;
    }
  }
  while (tokens[p] === null) p++;
  return p === tokens.length;
}
