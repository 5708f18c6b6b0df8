// `dmrec verify` as a library: checks the hash chain, the index, the seal and
// its signature of each capture, and the chain of files of a rotation set
// (docs/FORMAT.md, "Integrity"). It reports instead of throwing: every
// problem gets a kind (one exit code each, in the CLI) and a one-line message
// naming the file, the segment and the byte offset. Nothing here is Bun-only.
import { type KeyObject, verify as verifySignature } from "node:crypto";
import { closeSync } from "node:fs";
import { bytesEqual } from "./bytes.ts";
import { nsToIso } from "./query/time.ts";
import { Range } from "./capture/range.ts";
import { decodeMeta, headerRefusal, InvalidItemError, type MetaRecord, toCaptureItem } from "./capture/codec.ts";
import {
  decodeFrame,
  describeFailure,
  type FrameFailure,
  MAX_META_BYTES,
  openInput,
  scanFrames,
  scanWindow,
} from "./capture/scan.ts";
import { sha256 } from "./capture/writer.ts";
import { DMREC_META_MAGIC } from "./capture/zstd_frames.ts";
import { InputError } from "./errors.ts";
import type { CaptureHeader, CaptureSet, SegmentInfo } from "./event.ts";
import { fingerprint } from "./keys.ts";

/**
 * What is wrong with a file or a set, least severe first (VERIFY_KINDS):
 * - `ok`: everything checks out
 * - `unsigned`: a public key was given but the seal is not signed
 * - `unsealed`: no seal (the recorder did not close the file cleanly); what is intact is listed
 * - `truncated`: the file ends inside a frame, or a segment lacks its trailer at the end
 * - `unreadable`: the file cannot be opened or read
 * - `not_a_capture`: readable, but not a dmrec capture of a version this dmrec knows
 * - `missing_file`: the files of a rotation set do not form an unbroken chain
 * - `reordered`: a segment removed, duplicated or out of order
 * - `bad_signature`: the seal's signature does not verify with the given key
 * - `modified`: bytes changed, added or removed (a hash, an index entry or the seal disagrees)
 */
export type VerifyKind =
  | "ok"
  | "unsigned"
  | "unsealed"
  | "truncated"
  | "unreadable"
  | "not_a_capture"
  | "missing_file"
  | "reordered"
  | "bad_signature"
  | "modified";

/** Every kind, least severe first. */
export const VERIFY_KINDS: readonly VerifyKind[] = [
  "ok",
  "unsigned",
  "unsealed",
  "truncated",
  "unreadable",
  "not_a_capture",
  "missing_file",
  "reordered",
  "bad_signature",
  "modified",
];

export interface VerifyOptions {
  /** Ed25519 public key (node:crypto) the seals must be signed with */
  publicKey?: KeyObject;
  /** limits, as for readCapture (defaults: 64 MiB each) */
  maxFrameBytes?: number;
  maxContentBytes?: number;
}

export interface VerifyProblem {
  kind: Exclude<VerifyKind, "ok">;
  file: string;
  /** the segment concerned (1-based, by its place in the file), when one is */
  segment: number | null;
  /** byte offset in the file where the problem is, when known */
  offset: number | null;
  /** one line naming file, segment and offset */
  message: string;
}

/** The items of some segments, counted as their index entries and the seal count them. */
export interface ItemCounts {
  events: number;
  /** loss records, and the calls they count */
  losses: number;
  lostCalls: number;
  /** aggregate records, and the calls they count */
  aggregates: number;
  aggregatedCalls: number;
}

export interface IntactPart extends ItemCounts {
  /** segments verified before the first problem */
  segments: number;
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
  /** offset just past the last verified segment (or the header) */
  endOffset: number;
}

export interface FileVerification {
  file: string;
  /** the most severe of the problems' kinds, `ok` without problems */
  kind: VerifyKind;
  problems: VerifyProblem[];
  /** facts worth showing that are not problems ("signature not checked: no public key given") */
  notes: string[];
  header: CaptureHeader | null;
  sealed: boolean;
  /** `valid`/`invalid`: checked with the given key; `not_checked`: signed, no key given */
  signature: "valid" | "invalid" | "not_checked" | "absent";
  /** the seal's signed_by fingerprint */
  signedBy: string | null;
  /** the seal's final hash, or without a seal the last chain hash verified */
  finalHash: Uint8Array | null;
  /** segments in the file (whatever their state) */
  segments: number;
  intact: IntactPart;
}

export interface SetVerification {
  id: string;
  /** the files given, in set order (file_index) */
  files: string[];
  problems: VerifyProblem[];
  notes: string[];
}

export interface VerifyReport {
  files: FileVerification[];
  sets: SetVerification[];
  /** every problem, files' then sets' */
  problems: VerifyProblem[];
  /** worstKind(this) */
  kind: VerifyKind;
}

/** At most this many problems are listed per file; one more line counts the rest. */
const MAX_PROBLEMS = 100;
/** Segment hashes kept to recognise a moved or copied segment (32 bytes and a number each). */
const MAX_REMEMBERED = 65536;

const severity = (k: VerifyKind) => VERIFY_KINDS.indexOf(k);

/** The most severe kind among these, `ok` for none. */
export function worstOf(kinds: Iterable<VerifyKind>): VerifyKind {
  let worst: VerifyKind = "ok";
  for (const k of kinds) if (severity(k) > severity(worst)) worst = k;
  return worst;
}

/** The most severe kind in a report: what the CLI maps to its exit code. */
export function worstKind(report: Pick<VerifyReport, "files" | "sets">): VerifyKind {
  return worstOf([...report.files.map((f) => f.kind), ...report.sets.flatMap((s) => s.problems.map((p) => p.kind))]);
}

function equalBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a !== null && b !== null && bytesEqual(a, b);
}

/** ISO 8601 with nanoseconds, or "-" for no time. */
export function formatNs(ns: bigint | null): string {
  return ns === null ? "-" : nsToIso(ns);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function describeIntact(p: IntactPart, withEnd = true): string {
  const range = p.firstTsNs === null ? "no events" : `${formatNs(p.firstTsNs)} to ${formatNs(p.lastTsNs)}`;
  const lost = p.losses > 0 ? ` (${plural(p.lostCalls, "call")} lost)` : "";
  const aggregated = p.aggregates > 0 ? `, ${plural(p.aggregates, "aggregate")} (${plural(p.aggregatedCalls, "call")})` : "";
  const end = withEnd ? `, through byte ${p.endOffset}` : "";
  return `${plural(p.segments, "segment")}, ${plural(p.events, "event")}${aggregated}, ${plural(p.losses, "loss record")}${lost}, ${range}${end}`;
}


/** What a segment's data frame actually holds, to compare with its index entry. */
interface SegmentContent extends ItemCounts {
  /** the events' times and names: aggregates are not indexed by them */
  ts: Range;
  names: Set<string>;
}

const nameKey = (b: Uint8Array) => {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return s;
};

function examineSegment(
  bytes: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { content: SegmentContent; failure?: undefined } | { content?: undefined; failure: string } {
  const { values, failure } = decodeFrame(bytes, contentSize, maxContent);
  if (failure) return { failure: describeFailure("data frame", failure) };
  const c: SegmentContent = { events: 0, losses: 0, lostCalls: 0, aggregates: 0, aggregatedCalls: 0, ts: new Range(), names: new Set() };
  for (let i = 0; i < values.length; i++) {
    let item;
    try {
      item = toCaptureItem(values[i]);
    } catch (e) {
      if (!(e instanceof InvalidItemError)) throw e;
      return { failure: `invalid item ${i + 1} in its data frame: ${e.message}` };
    }
    if (item === null) continue; // a type from a later minor version
    if (item.type === "header") return { failure: `item ${i + 1} of its data frame is a header` };
    if (item.type === "loss") {
      c.losses++;
      c.lostCalls += item.count;
    } else if (item.type === "aggregate") {
      c.aggregates++;
      c.aggregatedCalls += item.count;
    } else {
      c.events++;
      c.ts.add(item.ts_ns);
      if (item.name !== null) c.names.add(nameKey(item.name));
    }
  }
  return { content: c };
}

/** How an index entry disagrees with its segment's content, or null. */
function indexMismatch(info: SegmentInfo, c: SegmentContent): string | null {
  const says = (what: string, listed: unknown, found: unknown) =>
    `its index entry says ${what} ${String(listed)}, its data holds ${String(found)}`;
  if (info.events !== c.events) return says("events:", info.events, c.events);
  if (info.losses !== c.losses) return says("loss records:", info.losses, c.losses);
  if (info.lost_calls !== c.lostCalls) return says("calls lost:", info.lost_calls, c.lostCalls);
  // Absent from a trailer written before aggregates existed: 0, which its data must hold too.
  if (info.aggregates !== c.aggregates) return says("aggregates:", info.aggregates, c.aggregates);
  if (info.aggregated_calls !== c.aggregatedCalls) return says("calls aggregated:", info.aggregated_calls, c.aggregatedCalls);
  if (info.first_ts_ns !== c.ts.min) return says("first_ts_ns", info.first_ts_ns, c.ts.min);
  if (info.last_ts_ns !== c.ts.max) return says("last_ts_ns", info.last_ts_ns, c.ts.max);
  const listed = new Set<string>();
  for (const m of info.modules) {
    const k = nameKey(m);
    if (!c.names.has(k)) return `its index entry lists a module name that none of its events has`;
    if (listed.has(k)) return `its index entry lists a module name twice`;
    listed.add(k);
  }
  if (info.modules_complete && listed.size !== c.names.size) {
    return `its index entry lists ${listed.size} module names as complete, its events have ${c.names.size}`;
  }
  return null;
}

class FileChecker {
  readonly problems: VerifyProblem[] = [];
  private dropped = 0;
  readonly notes: string[] = [];
  header: CaptureHeader | null = null;
  sealed = false;
  signature: FileVerification["signature"] = "absent";
  signedBy: string | null = null;
  finalHash: Uint8Array | null = null;
  segments = 0;
  readonly intact: IntactPart = {
    segments: 0,
    events: 0,
    losses: 0,
    lostCalls: 0,
    aggregates: 0,
    aggregatedCalls: 0,
    firstTsNs: null,
    lastTsNs: null,
    endOffset: 0,
  };
  private intactRange = new Range();
  /** nothing wrong found so far: what is verified still counts as intact */
  private clean = true;

  constructor(readonly file: string) {}

  problem(kind: VerifyProblem["kind"], where: { segment?: number; offset?: number; at?: string }, text: string): VerifyProblem {
    const segment = where.segment ?? null;
    const offset = where.offset ?? null;
    const at =
      where.at ??
      (segment !== null && offset !== null
        ? `segment ${segment} at byte ${offset}`
        : offset !== null
          ? `byte ${offset}`
          : null);
    const p: VerifyProblem = { kind, file: this.file, segment, offset, message: `${this.file}: ${at ? `${at}: ` : ""}${text}` };
    if (kind !== "unsigned" && kind !== "unsealed") this.clean = false;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(p);
    else this.dropped++;
    return p;
  }

  addIntact(info: SegmentInfo, endOffset: number): void {
    if (!this.clean) return;
    const t = this.intact;
    t.segments++;
    t.events += info.events;
    t.losses += info.losses;
    t.lostCalls += info.lost_calls;
    t.aggregates += info.aggregates;
    t.aggregatedCalls += info.aggregated_calls;
    this.intactRange.add(info.first_ts_ns);
    this.intactRange.add(info.last_ts_ns);
    t.firstTsNs = this.intactRange.min;
    t.lastTsNs = this.intactRange.max;
    t.endOffset = endOffset;
  }

  markIntactEnd(endOffset: number): void {
    if (this.clean) this.intact.endOffset = endOffset;
  }

  get isClean(): boolean {
    return this.clean;
  }

  result(): FileVerification {
    const problems = [...this.problems];
    if (this.dropped > 0) {
      const last = problems[problems.length - 1]!;
      problems.push({ ...last, segment: null, offset: null, message: `${this.file}: and ${plural(this.dropped, "more problem")}` });
    }
    return {
      file: this.file,
      kind: worstOf(problems.map((p) => p.kind)),
      problems,
      notes: this.notes,
      header: this.header,
      sealed: this.sealed,
      signature: this.signature,
      signedBy: this.signedBy,
      finalHash: this.finalHash,
      segments: this.segments,
      intact: { ...this.intact },
    };
  }
}

/** Verifies one capture on its own (no set checks). Never throws for bad input. */
export function verifyCapture(path: string, opts: VerifyOptions = {}): FileVerification {
  const r = new FileChecker(path);
  let fd: number;
  try {
    fd = openInput(path);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    r.problem("unreadable", {}, e.problem);
    return r.result();
  }
  try {
    checkFile(r, fd, opts);
  } catch (e) {
    // A read error (EIO) while reading: what was checked stays reported.
    if (!(e instanceof InputError)) throw e;
    r.problem("unreadable", {}, e.problem);
  } finally {
    closeSync(fd);
  }
  return r.result();
}

function checkFile(r: FileChecker, fd: number, opts: VerifyOptions): void {
  const { limits, win } = scanWindow(fd, r.file, opts);
  if (!win.fill(1)) {
    r.problem("not_a_capture", {}, "empty file, not a capture");
    return;
  }
  const notCapture = (text: string) => {
    r.problems.length = 0;
    r.problem("not_a_capture", {}, `not a dmrec capture (${text})`);
  };

  let phase: "header" | "segments" | "sealed" = "header";
  /** possible chain hashes of the segment before (two after a mismatch: the stored and the recomputed one) */
  let chain: Uint8Array[] = [];
  /** the predecessor's hash is unknown (a trailer was unreadable or missing): the next segment restarts the chain */
  let chainLost = false;
  /** the segment number expected next, from the trailers' indexes */
  let expect = 1;
  /** stored hash and offset of each segment index seen (index 0: the header), to tell a moved segment from a changed one */
  const seen = new Map<number, { hash: Uint8Array; offset: number }>();
  const remember = (index: number, hash: Uint8Array, offset: number) => {
    if (seen.size < MAX_REMEMBERED && !seen.has(index)) seen.set(index, { hash, offset });
  };
  /** the last hash mismatch, refined once the next segment shows which hash was changed */
  let mismatch: { problem: VerifyProblem; recomputed: Uint8Array; trailerOffset: number } | null = null;
  /** the meta frame already handled as the previous data frame's trailer */
  let consumedMeta = -1;
  /** a data frame whose trailer is not right after it: judged by what comes next */
  let orphan: { offset: number; number: number } | null = null;
  /** totals of all segments in the file, from their index entries, to compare with the seal */
  const totals: SealTotals = { segments: 0, events: 0, losses: 0, lostCalls: 0, aggregates: 0, aggregatedCalls: 0, ts: new Range() };
  let ended: "eof" | "truncated" | "broken" = "eof";

  for (const f of scanFrames(win, limits, true)) {
    if (f.kind === "meta" && f.offset === consumedMeta) continue;
    if (orphan) {
      const o = orphan;
      orphan = null;
      if (f.kind === "truncated" && f.frame === "skippable" && (f.magic === DMREC_META_MAGIC || f.magic === null)) {
        r.problem("truncated", { segment: o.number, offset: f.offset, at: `segment ${o.number}'s trailer at byte ${f.offset}` }, `the file ends within it; intact: ${describeIntact(r.intact)}`);
        ended = "truncated";
        break;
      }
      r.problem("modified", { segment: o.number, offset: o.offset }, "its data frame has no trailer (the segment is not covered by the hash chain)");
      chainLost = true;
    }

    if (phase === "sealed") {
      const what = f.kind === "truncated" ? "a cut frame" : f.kind === "invalid" ? "bytes that are not a frame" : "a frame";
      r.problem("modified", { offset: f.offset }, `${what} after the seal (not covered by it)`);
      ended = "broken";
      break;
    }

    switch (f.kind) {
      case "truncated": {
        if (phase === "header") {
          r.problem("truncated", { offset: f.offset, at: `header frame at byte ${f.offset}` }, "the file ends within it");
        } else if (f.frame === "standard") {
          r.problem("truncated", { segment: expect, offset: f.offset }, `the file ends within its data frame; intact: ${describeIntact(r.intact)}`);
        } else if (f.magic === DMREC_META_MAGIC || f.magic === null) {
          r.problem("truncated", { offset: f.offset, at: `the seal at byte ${f.offset}` }, `the file ends within it; intact: ${describeIntact(r.intact)}`);
        } else {
          r.problem("truncated", { offset: f.offset }, `the file ends within a skippable frame; intact: ${describeIntact(r.intact)}`);
        }
        ended = "truncated";
        break;
      }
      case "invalid": {
        if (phase === "header" && f.notZstd) notCapture(f.problem);
        else r.problem("modified", { offset: f.offset }, `${f.problem}: the rest of the file cannot be read`);
        ended = "broken";
        break;
      }
      case "oversized": {
        r.problem("modified", { offset: f.offset }, `a frame larger than the ${f.limit}-byte limit: the rest of the file is not checked`);
        ended = "broken";
        break;
      }
      case "skippable": {
        const what = f.magic === DMREC_META_MAGIC ? `a dmrec frame larger than the ${MAX_META_BYTES}-byte limit` : `a skippable frame with magic 0x${f.magic.toString(16)}`;
        r.problem("modified", { offset: f.offset }, `${what}: not part of a dmrec capture, not covered by the hash chain`);
        break;
      }
      case "meta": {
        if (phase === "header") {
          r.problem("modified", { offset: f.offset }, "a dmrec frame before the header");
          break;
        }
        let meta: MetaRecord;
        try {
          meta = decodeMeta(f.payload);
        } catch (e) {
          if (!(e instanceof InvalidItemError)) throw e;
          r.problem("modified", { offset: f.offset }, `unreadable dmrec frame (${e.message})`);
          break;
        }
        if (meta.type === "unknown") {
          r.problem("modified", { offset: f.offset }, `a dmrec frame of unknown type ${JSON.stringify(meta.name)}`);
        } else if (meta.type === "segment") {
          r.problem(
            "modified",
            { segment: meta.info.index, offset: f.offset, at: `segment ${meta.info.index}'s trailer at byte ${f.offset}` },
            "it follows no data frame (the data frame was removed)",
          );
          totals.segments++;
          chain = [meta.hash];
          chainLost = false;
          expect = meta.info.index + 1;
          remember(meta.info.index, meta.hash, f.offset);
        } else {
          checkSeal(r, meta, f.offset, { chain, chainLost, reordered: r.problems.some((p) => p.kind === "reordered"), totals }, opts);
          phase = "sealed";
        }
        break;
      }
      case "standard": {
        if (phase === "header") {
          const h = checkHeaderFrame(r, f.bytes, f.contentSize, limits.maxContentBytes);
          if (h === "not_a_capture") return;
          chain = [sha256(f.bytes)];
          remember(0, chain[0]!, f.offset);
          phase = "segments";
          r.markIntactEnd(f.offset + f.length);
          break;
        }
        const next = f.next;
        let trailer: MetaRecord | Error | null = null;
        if (next) {
          try {
            trailer = decodeMeta(next.payload);
          } catch (e) {
            if (!(e instanceof InvalidItemError)) throw e;
            trailer = e;
          }
        }
        if (trailer === null || (!(trailer instanceof Error) && trailer.type !== "segment")) {
          // Judged by what follows: the end of the file, a cut trailer, or something else.
          orphan = { offset: f.offset, number: expect };
          totals.segments++;
          expect++;
          break;
        }
        consumedMeta = next!.offset;
        totals.segments++;
        const trailerAt = next!.offset;
        const examined = examineSegment(f.bytes, f.contentSize, limits.maxContentBytes);
        if (trailer instanceof Error) {
          const data = examined.failure ? `; ${examined.failure}` : "";
          r.problem("modified", { segment: expect, offset: f.offset }, `its trailer at byte ${trailerAt} is unreadable (${trailer.message})${data}`);
          chainLost = true;
          expect++;
          break;
        }
        const info = trailer.info;
        const stored = trailer.hash;
        const infoRaw = trailer.infoRaw;
        // The seal is compared with what the segments hold, or say they hold when unreadable.
        const held = examined.content;
        const count = () => {
          totals.events += held ? held.events : info.events;
          totals.losses += held ? held.losses : info.losses;
          totals.lostCalls += held ? held.lostCalls : info.lost_calls;
          totals.aggregates += held ? held.aggregates : info.aggregates;
          totals.aggregatedCalls += held ? held.aggregatedCalls : info.aggregated_calls;
          totals.ts.add(held ? held.ts.min : info.first_ts_ns);
          totals.ts.add(held ? held.ts.max : info.last_ts_ns);
        };
        const where = { segment: info.index, offset: f.offset };
        const endOffset = trailerAt + next!.length;
        const contentProblem = examined.failure ?? indexMismatch(info, examined.content!);

        if (info.index !== expect) {
          // An intact segment in the wrong place still matches its hash when
          // chained to its real predecessor, if that one was seen.
          const pred = seen.get(info.index - 1);
          const intactElsewhere = pred ? equalBytes(sha256(pred.hash, f.bytes, infoRaw), stored) : null;
          const twin = seen.get(info.index);
          if (intactElsewhere === false) {
            r.problem(
              "modified",
              { segment: expect, offset: f.offset },
              `its trailer at byte ${trailerAt} says segment ${info.index} where segment ${expect} belongs, and it does not match its hash`,
            );
            chainLost = true;
            expect++;
          } else if (twin && equalBytes(twin.hash, stored)) {
            r.problem("reordered", where, `a copy of segment ${info.index} (at byte ${twin.offset})`);
            totals.segments--;
            break;
          } else if (info.index > expect) {
            const missing = info.index === expect + 1 ? `segment ${expect} is` : `segments ${expect} to ${info.index - 1} are`;
            r.problem("reordered", where, `it follows segment ${expect - 1}: ${missing} missing or out of order`);
            chain = [stored];
            chainLost = false;
            expect = info.index + 1;
          } else {
            r.problem("reordered", where, `out of order: it comes after segment ${expect - 1}`);
          }
          count();
          if (contentProblem) r.problem("modified", where, contentProblem);
          if (intactElsewhere !== false) remember(info.index, stored, f.offset);
          mismatch = null;
          break;
        }

        count();
        const recomputed = chain.map((prev) => sha256(prev, f.bytes, infoRaw));
        const matched = chainLost ? -1 : recomputed.findIndex((h) => equalBytes(h, stored));
        if (chainLost) {
          // Restart the chain from this segment: its own hash cannot be checked.
          if (contentProblem) r.problem("modified", where, contentProblem);
          chain = [stored];
          chainLost = false;
          mismatch = null;
        } else if (matched < 0) {
          const before = info.index === 1 ? "the header frame" : `segment ${info.index - 1}`;
          const detail = contentProblem
            ? `${contentProblem}`
            : `its data frame, its trailer at byte ${trailerAt}, or ${before} was changed`;
          const p = r.problem("modified", where, `does not match its hash: ${detail}`);
          mismatch = contentProblem ? null : { problem: p, recomputed: recomputed[0]!, trailerOffset: trailerAt };
          chain = [stored, recomputed[0]!];
        } else {
          if (mismatch && matched === 1 && chain.length === 2) {
            // The recomputed hash of the segment before carried on: its stored hash was what changed.
            const m = mismatch.problem;
            m.message = `${r.file}: segment ${m.segment} at byte ${m.offset}: does not match its hash: the hash in its trailer at byte ${mismatch.trailerOffset} was changed`;
          }
          mismatch = null;
          if (contentProblem) r.problem("modified", where, contentProblem);
          else r.addIntact(info, endOffset);
          chain = [stored];
        }
        remember(info.index, stored, f.offset);
        expect = info.index + 1;
        break;
      }
    }
    if (ended !== "eof") break;
  }

  if (orphan) {
    r.problem("truncated", { segment: orphan.number, offset: orphan.offset }, `the file ends after its data frame, without its trailer; intact: ${describeIntact(r.intact)}`);
    ended = "truncated";
  }
  if (phase === "header") {
    if (ended === "eof") notCapture("no zstd data frame");
    return;
  }
  r.segments = totals.segments;
  if (!r.sealed) {
    if (!chainLost && chain.length > 0) r.finalHash = chain[0]!;
    if (ended === "eof") {
      r.problem("unsealed", {}, `no seal: the recorder did not close the file cleanly; intact: ${describeIntact(r.intact)}`);
    }
  }
}

/** What the seal must say: the sums over all segments of the file. */
interface SealTotals extends ItemCounts {
  segments: number;
  ts: Range;
}

function frameFailureText(f: FrameFailure): string {
  return f.stage === "limit" ? `its ${f.text}` : `it is corrupt (${f.stage === "zstd" ? "zstd" : "CBOR"}: ${f.text})`;
}

/** Checks the first frame; "not_a_capture" ends the verification. */
function checkHeaderFrame(r: FileChecker, bytes: Uint8Array, contentSize: bigint | null, maxContent: number): "ok" | "not_a_capture" {
  const notCapture = (text: string) => {
    r.problems.length = 0;
    r.problem("not_a_capture", {}, text);
    return "not_a_capture" as const;
  };
  const at = { offset: 0, at: "header frame at byte 0" };
  const { values, failure } = decodeFrame(bytes, contentSize, maxContent);
  if (failure && values.length === 0) {
    if (failure.stage === "cbor") return notCapture(`not a dmrec capture (not CBOR: ${failure.text})`);
    r.problem("modified", at, frameFailureText(failure));
    return "ok";
  }
  const refusal = headerRefusal(values[0]);
  if (refusal) return notCapture(refusal);
  try {
    r.header = toCaptureItem(values[0]) as CaptureHeader;
  } catch (e) {
    if (!(e instanceof InvalidItemError)) throw e;
    r.problem("modified", at, `invalid header: ${e.message}`);
  }
  if (failure) r.problem("modified", at, frameFailureText(failure));
  else if (values.length > 1) r.problem("modified", at, `it holds ${values.length} items, a dmrec header frame holds the header alone`);
  return "ok";
}

function checkSeal(
  r: FileChecker,
  seal: Extract<MetaRecord, { type: "seal" }>,
  offset: number,
  state: {
    chain: Uint8Array[];
    chainLost: boolean;
    /** a segment was already found out of sequence */
    reordered: boolean;
    totals: SealTotals;
  },
  opts: VerifyOptions,
): void {
  const { info, infoRaw } = seal;
  const at = { offset, at: `the seal at byte ${offset}` };
  r.sealed = true;
  r.finalHash = info.final_hash;
  r.signedBy = info.signed_by;
  const { totals } = state;
  const chainHead = state.chainLost ? [] : state.chain;

  if (!equalBytes(sha256(info.final_hash, infoRaw), seal.hash)) r.problem("modified", at, "it does not match its hash: the seal was changed");
  if (info.segments !== totals.segments) {
    // With every segment in sequence, the ones missing are the last ones.
    const n = info.segments - totals.segments;
    const detail = state.reordered ? "" : n > 0 ? `: segment${n > 1 ? `s ${totals.segments + 1} to ${info.segments} are` : ` ${info.segments} is`} missing` : "";
    r.problem("reordered", at, `it counts ${plural(info.segments, "segment")}, the file holds ${totals.segments}${detail}`);
  } else if (!state.chainLost && !chainHead.some((h) => equalBytes(h, info.final_hash))) {
    r.problem("modified", at, `its final hash does not match ${totals.segments === 0 ? "the header frame" : `segment ${totals.segments}`}'s`);
  } else {
    const claims: [string, unknown, unknown][] = [
      ["events", info.events, totals.events],
      ["loss records", info.losses, totals.losses],
      ["calls lost", info.lost_calls, totals.lostCalls],
      ["aggregates", info.aggregates, totals.aggregates],
      ["calls aggregated", info.aggregated_calls, totals.aggregatedCalls],
      ["first_ts_ns", info.first_ts_ns, totals.ts.min],
      ["last_ts_ns", info.last_ts_ns, totals.ts.max],
    ];
    const wrong = claims.find(([, a, b]) => a !== b);
    if (wrong) r.problem("modified", at, `it says ${wrong[0]} ${String(wrong[1])}, the segments hold ${String(wrong[2])}`);
  }

  const signature = seal.signature;
  if ((signature === null) !== (info.signed_by === null)) {
    r.problem("modified", at, signature ? "it has a signature but no signed_by" : "it names a signer but has no signature");
  }
  if (signature === null) {
    r.signature = "absent";
    if (opts.publicKey) r.problem("unsigned", at, "it is not signed (a public key was given)");
    return;
  }
  if (!opts.publicKey) {
    r.signature = "not_checked";
    r.notes.push(`${r.file}: the seal is signed by key ${info.signed_by}; signature not checked (no public key given)`);
    return;
  }
  const fp = fingerprint(opts.publicKey);
  let valid = false;
  try {
    valid = verifySignature(null, infoRaw, opts.publicKey, signature);
  } catch {
    valid = false;
  }
  r.signature = valid ? "valid" : "invalid";
  if (valid) {
    r.notes.push(`${r.file}: signature valid (key ${fp})`);
  } else if (info.signed_by !== fp) {
    r.problem("bad_signature", at, `it is signed by key ${info.signed_by}, not by the given key ${fp}`);
  } else {
    r.problem("bad_signature", at, `its signature does not verify with the given key ${fp}`);
  }
}

/**
 * Verifies each file, then the files of each rotation set together (grouped
 * by set.id, ordered by set.file_index): a gap in the file indexes, or a
 * prev_file_hash that is not the previous file's final hash, is a
 * `missing_file`. Files before the first one given (deleted by --max-files)
 * are noted, not counted as missing.
 */
export function verifyCaptures(paths: string[], opts: VerifyOptions = {}): VerifyReport {
  const files = paths.map((p) => verifyCapture(p, opts));
  const groups = new Map<string, FileVerification[]>();
  for (const f of files) {
    if (!f.header) continue;
    const g = groups.get(f.header.set.id);
    if (g) g.push(f);
    else groups.set(f.header.set.id, [f]);
  }
  const sets = [...groups].map(([id, members]) => checkSet(id, members));
  const problems = [...files.flatMap((f) => f.problems), ...sets.flatMap((s) => s.problems)];
  const report = { files, sets, problems, kind: "ok" as VerifyKind };
  report.kind = worstKind(report);
  return report;
}

function checkSet(id: string, members: FileVerification[]): SetVerification {
  const setOf = (f: FileVerification): CaptureSet => f.header!.set;
  const sorted = [...members].sort((a, b) => setOf(a).file_index - setOf(b).file_index);
  const problems: VerifyProblem[] = [];
  const notes: string[] = [];
  const problem = (f: FileVerification, text: string) =>
    problems.push({ kind: "missing_file", file: f.file, segment: null, offset: null, message: `${f.file}: ${text}` });
  const first = sorted[0]!;
  const firstIndex = setOf(first).file_index;
  if (firstIndex > 1) {
    notes.push(
      `set ${id}: ${firstIndex === 2 ? "file 1 was" : `files 1 to ${firstIndex - 1} were`} not given (rotated away, or not asked for); it starts at ${first.file}`,
    );
  } else if (setOf(first).prev_file_hash !== null) {
    problem(first, `file 1 of set ${id} names a previous file`);
  }
  const kept: FileVerification[] = [first];
  for (const f of sorted.slice(1)) {
    const prev = kept[kept.length - 1]!;
    const pi = setOf(prev).file_index;
    const fi = setOf(f).file_index;
    if (fi === pi) {
      if (equalBytes(prev.finalHash, f.finalHash) && prev.finalHash !== null) {
        notes.push(`set ${id}: ${f.file} and ${prev.file} are the same file (file ${fi})`);
      } else {
        problem(f, `it and ${prev.file} both claim to be file ${fi} of set ${id}`);
      }
      continue;
    }
    kept.push(f);
    if (fi !== pi + 1) {
      const missing = fi === pi + 2 ? `file ${pi + 1} is` : `files ${pi + 1} to ${fi - 1} are`;
      problem(f, `${missing} missing from set ${id}: it is file ${fi}, the one before it given is ${prev.file} (file ${pi})`);
      continue;
    }
    const link = setOf(f).prev_file_hash;
    if (link === null) problem(f, `file ${fi} of set ${id} names no previous file`);
    else if (prev.finalHash === null) {
      notes.push(`set ${id}: ${prev.file}'s final hash is unknown, so the link to ${f.file} is not checked`);
    } else if (!equalBytes(link, prev.finalHash)) {
      problem(f, `its prev_file_hash is not the final hash of ${prev.file} (file ${pi}): a file of set ${id} is missing or was replaced`);
    }
  }
  return { id, files: sorted.map((f) => f.file), problems, notes };
}

/** Human lines for a report: per file its state, then each problem and note. */
export function reportLines(report: VerifyReport): string[] {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.kind === "ok") {
      const signed = f.signature === "valid" ? ", signature valid" : f.signature === "not_checked" ? ", signed (not checked)" : "";
      lines.push(`${f.file}: OK (${describeIntact(f.intact, false)}, sealed${signed})`);
    }
    for (const p of f.problems) lines.push(p.message);
    lines.push(...f.notes);
  }
  for (const s of report.sets) {
    for (const p of s.problems) lines.push(p.message);
    lines.push(...s.notes);
  }
  return lines;
}
