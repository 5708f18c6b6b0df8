// Verifies one capture (docs/FORMAT.md, "Verifying a file"): the reaction
// to each step of the walk. The header frame starts the hash chain; each
// segment must carry the expected index, match its hash chained to the one
// before and hold what its index entry says; the seal closes it. Anything
// else in the file is a problem of its own kind, reported with the file, the
// segment and the byte, and verification goes on wherever the file lets it.
import { bytesEqual } from "../bytes.ts";
import { quoted } from "../capture/cbor.ts";
import { headerHash, segmentHash } from "../capture/chain.ts";
import { ContentError } from "../capture/items.ts";
import { Totals } from "../capture/totals.ts";
import { MAX_META_BYTES } from "../capture/limits.ts";
import { type DamageStep, type HeaderStep, type MetaStep, type SegmentStep, type Step, type TrailerAt, walkCapture } from "../capture/walk.ts";
import { DMREC_META_MAGIC } from "../capture/zstd_frames.ts";
import { InputError, NotCaptureError } from "../errors.ts";
import type { SegmentInfo } from "../event.ts";
import type { FileVerification, VerifyOptions, VerifyProblem } from "./kinds.ts";
import { contentProblem, examineSegment } from "./content.ts";
import { FileReport, type Place } from "./report.ts";
import { anchorSet } from "./anchors.ts";
import { checkSeal } from "./seal.ts";
import { KeyChainCheck, uncoveredBytes } from "./signatures.ts";
import { describeIntact } from "./text.ts";

/** Segment hashes kept to recognise a moved or copied segment (32 bytes and a number each). */
const MAX_REMEMBERED = 65536;

/** Verifies one capture on its own: no set checks, its key chain anchored by the options alone. Never throws for bad input. */
export function verifyCapture(path: string, opts: VerifyOptions = {}): FileVerification {
  const f = checkCapture(path, opts);
  if (f.header) anchorSet([f], opts);
  return f;
}

/** The checks of one file that need nothing else: verifyCaptures anchors the key chains with the set. */
export function checkCapture(path: string, opts: VerifyOptions = {}): FileVerification {
  const check = new FileCheck(path, opts);
  try {
    for (const step of walkCapture(path, opts)) if (!check.on(step)) break;
  } catch (e) {
    if (e instanceof NotCaptureError) check.report.notACapture(e.problem);
    // Cannot be opened, or a read error (EIO) while reading: what was checked stays reported.
    else if (e instanceof InputError) check.report.problem("unreadable", {}, e.problem);
    else throw e;
  }
  return check.report.result();
}

/** A segment with a readable trailer, its content read against its index entry. */
interface Examined {
  step: SegmentStep;
  trailer: TrailerAt;
  info: SegmentInfo;
  /** the chain hash its trailer stores */
  stored: Uint8Array;
  where: Place;
  /** what its data holds, null when unreadable */
  content: Totals | null;
  /** how its content is bad or disagrees with its entry */
  problem: string | null;
}

class FileCheck {
  readonly report: FileReport;
  private phase: "header" | "segments" | "sealed" = "header";
  /** possible chain hashes of the segment before (two after a mismatch: the stored and the recomputed one) */
  private chain: Uint8Array[] = [];
  /** the predecessor's hash is unknown (a trailer was unreadable or missing): the next segment restarts the chain */
  private chainLost = false;
  /** the segment number expected next, from the trailers' indexes */
  private expect = 1;
  /** stored hash and offset of each segment index seen (index 0: the header), to tell a moved segment from a changed one */
  private readonly seen = new Map<number, { hash: Uint8Array; offset: number }>();
  /** the last hash mismatch, refined once the next segment shows which hash was changed */
  private mismatch: { problem: VerifyProblem; trailerOffset: number } | null = null;
  /** a data frame whose trailer is not right after it: judged by what comes next */
  private orphan: { offset: number; number: number } | null = null;
  /** totals of all segments in the file, to compare with the seal */
  private readonly totals = new Totals();
  /** the file ended inside a frame, or bytes past some point could not be read */
  private ended: "eof" | "truncated" | "broken" = "eof";
  /** the header's format version, null while unknown */
  private version: number | null = null;
  /** a version 2 file's key chain, followed segment by segment */
  private keys: KeyChainCheck | null = null;

  constructor(
    path: string,
    private readonly opts: VerifyOptions,
  ) {
    this.report = new FileReport(path);
  }

  private get r(): FileReport {
    return this.report;
  }

  /** Reacts to one step; false when nothing after it is to be checked. */
  on(step: Step): boolean {
    if (step.kind === "end") {
      this.finish();
      return false;
    }
    if (this.orphan && !(step.kind === "damage" && step.frame === "segment trailer")) {
      const o = this.orphan;
      this.orphan = null;
      this.r.problem("modified", { segment: o.number, offset: o.offset }, "its data frame has no trailer (the segment is not covered by the hash chain)");
      this.chainLost = true;
      this.keys?.stop();
    }
    if (this.phase === "sealed") {
      const what = step.kind !== "damage" ? "a frame" : step.cause === "truncated" ? "a cut frame" : "bytes that are not a frame";
      this.r.problem("modified", { offset: step.offset }, `${what} after the seal (not covered by it)`);
      this.ended = "broken";
      this.finish();
      return false;
    }
    switch (step.kind) {
      case "damage":
        this.onDamage(step);
        this.finish();
        return false;
      case "skippable": {
        const what = step.magic === DMREC_META_MAGIC ? `a dmrec frame larger than the ${MAX_META_BYTES}-byte limit` : `a skippable frame with magic 0x${step.magic.toString(16)}`;
        this.r.problem("modified", { offset: step.offset }, `${what}: not part of a dmrec capture, not covered by the hash chain`);
        this.keys?.stop();
        return true;
      }
      case "meta":
        this.onMeta(step);
        return true;
      case "seal":
        if (this.phase === "header") {
          this.r.problem("modified", { offset: step.offset }, "a dmrec frame before the header");
          return true;
        }
        checkSeal(this.r, step.seal, step.offset, {
          heads: this.chainLost ? [] : this.chain,
          reordered: this.r.hasProblem("reordered"),
          totals: this.totals,
          version: this.version,
          keys: this.keys,
        }, this.opts);
        this.phase = "sealed";
        return true;
      case "header":
        this.onHeader(step);
        return true;
      case "segment":
        this.onSegment(step);
        return true;
    }
  }

  private onDamage(step: DamageStep): void {
    const r = this.r;
    const intact = () => describeIntact(r.intact);
    if (step.cause === "invalid") {
      r.problem("modified", { offset: step.offset }, `${step.problem}: the rest of the file cannot be read`);
      this.ended = "broken";
      return;
    }
    if (step.cause === "oversized") {
      r.problem("modified", { offset: step.offset }, `${step.problem}: the rest of the file is not checked`);
      this.ended = "broken";
      return;
    }
    this.ended = "truncated";
    if (this.phase === "header") {
      r.problem("truncated", { offset: step.offset, at: `header frame at byte ${step.offset}` }, "the file ends within it");
    } else if (step.frame === "segment trailer" && this.orphan) {
      const o = this.orphan;
      this.orphan = null;
      r.problem("truncated", { segment: o.number, offset: step.offset, at: `segment ${o.number}'s trailer at byte ${step.offset}` }, `the file ends within it; intact: ${intact()}`);
    } else if (step.frame === "segment") {
      r.problem("truncated", { segment: this.expect, offset: step.offset }, `the file ends within its data frame; intact: ${intact()}`);
    } else if (step.frame === "skippable frame") {
      r.problem("truncated", { offset: step.offset }, `the file ends within a skippable frame; intact: ${intact()}`);
    } else {
      r.problem("truncated", { offset: step.offset, at: `the seal at byte ${step.offset}` }, `the file ends within it; intact: ${intact()}`);
    }
  }

  private onMeta(step: MetaStep): void {
    const r = this.r;
    this.keys?.stop();
    if (this.phase === "header") {
      r.problem("modified", { offset: step.offset }, "a dmrec frame before the header");
      return;
    }
    const record = step.record;
    if (record === null) {
      r.problem("modified", { offset: step.offset }, `unreadable dmrec frame (${step.problem})`);
    } else if (record.type === "unknown") {
      r.problem("modified", { offset: step.offset }, `a dmrec frame of unknown type ${quoted(record.name)}`);
    } else {
      r.problem(
        "modified",
        { segment: record.info.index, offset: step.offset, at: `segment ${record.info.index}'s trailer at byte ${step.offset}` },
        "it follows no data frame (the data frame was removed)",
      );
      this.totals.segments++;
      this.chain = [record.hash];
      this.chainLost = false;
      this.expect = record.info.index + 1;
      this.remember(record.info.index, record.hash, step.offset);
    }
  }

  private onHeader(step: HeaderStep): void {
    const r = this.r;
    const at = { offset: step.offset, at: `header frame at byte ${step.offset}` };
    this.chain = [headerHash(step.bytes)];
    this.remember(0, this.chain[0]!, step.offset);
    this.phase = "segments";
    if (!step.header) {
      r.problem("modified", at, step.failure ? contentProblem(step.failure, "the frame") : step.problem!);
    } else {
      r.header = step.header;
      this.version = step.header.version;
      if (this.version >= 2) this.keys = new KeyChainCheck(r, step.header, at);
      else r.notes.push(`${r.file}: a version 1 capture: its segments are not signed (at most its seal is), so whoever controlled the host could have rewritten it`);
      let items = 1;
      try {
        for (const it = step.items()[Symbol.iterator](); !it.next().done; ) items++;
        if (items > 1) r.problem("modified", at, `it holds ${items} items, a dmrec header frame holds the header alone`);
      } catch (e) {
        if (!(e instanceof ContentError)) throw e;
        r.problem("modified", at, contentProblem(e, "its content"));
      }
    }
    r.markIntactEnd(step.offset + step.length);
  }

  private remember(index: number, hash: Uint8Array, offset: number): void {
    if (this.seen.size < MAX_REMEMBERED && !this.seen.has(index)) this.seen.set(index, { hash, offset });
  }

  private onSegment(step: SegmentStep): void {
    const r = this.r;
    const trailer = step.trailer;
    if (trailer === null || trailer.record === null) this.totals.segments++;
    if (trailer === null) {
      // Judged by what follows: the end of the file, a cut trailer, or something else.
      this.orphan = { offset: step.offset, number: this.expect };
      this.expect++;
      return;
    }
    if (trailer.record === null) {
      this.keys?.stop();
      const { problem } = examineSegment(step, null);
      const data = problem ? `; ${problem}` : "";
      r.problem("modified", { segment: this.expect, offset: step.offset }, `its trailer at byte ${trailer.offset} is unreadable (${trailer.problem})${data}`);
      this.chainLost = true;
      this.expect++;
      return;
    }
    const { info, hash: stored, infoRaw } = trailer.record;
    const uncovered = this.version === null ? null : uncoveredBytes(trailer.record, this.version);
    if (uncovered) {
      r.problem("modified", { segment: info.index, offset: trailer.offset, at: `segment ${info.index}'s trailer at byte ${trailer.offset}` }, uncovered);
      this.keys?.stop();
    }
    const inPlace = info.index === this.expect;
    // Hashed before the items are read: examining them is what lets the frame go.
    const pred = inPlace ? undefined : this.seen.get(info.index - 1);
    const intactElsewhere = pred ? bytesEqual(segmentHash(pred.hash, step.bytes, infoRaw), stored) : null;
    const recomputed = inPlace && !this.chainLost ? this.chain.map((prev) => segmentHash(prev, step.bytes, infoRaw)) : [];
    const examined = examineSegment(step, info);
    const segment: Examined = { step, trailer, info, stored, where: { segment: info.index, offset: step.offset }, ...examined };
    if (inPlace) this.inPlace(segment, recomputed);
    else this.outOfPlace(segment, intactElsewhere);
  }

  /** Adds a segment to the file's totals: what it holds, or what it says it holds when its data is unreadable. */
  private count(s: Examined): void {
    if (s.content) this.totals.add(s.content);
    else this.totals.addEntry(s.info);
  }

  /** A segment whose trailer says it is the one expected here: chained to the one before. */
  private inPlace(s: Examined, recomputed: Uint8Array[]): void {
    const r = this.r;
    const { info, stored, where, problem } = s;
    this.count(s);
    const matched = this.chainLost ? -1 : recomputed.findIndex((h) => bytesEqual(h, stored));
    if (this.chainLost) {
      // Restart the chain from this segment: its own hash cannot be checked.
      this.keys?.stop();
      if (problem) r.problem("modified", where, problem);
      this.chain = [stored];
      this.chainLost = false;
      this.mismatch = null;
    } else if (matched < 0) {
      this.keys?.stop();
      const before = info.index === 1 ? "the header frame" : `segment ${info.index - 1}`;
      const detail = problem ?? `its data frame, its trailer at byte ${s.trailer.offset}, or ${before} was changed`;
      const p = r.problem("modified", where, `does not match its hash: ${detail}`);
      this.mismatch = problem ? null : { problem: p, trailerOffset: s.trailer.offset };
      this.chain = [stored, recomputed[0]!];
    } else {
      if (this.mismatch && matched === 1 && this.chain.length === 2) {
        // The recomputed hash of the segment before carried on: its stored hash was what changed.
        const m = this.mismatch.problem;
        m.message = `${r.file}: segment ${m.segment} at byte ${m.offset}: does not match its hash: the hash in its trailer at byte ${this.mismatch.trailerOffset} was changed`;
      }
      this.mismatch = null;
      if (problem) {
        r.problem("modified", where, problem);
        this.keys?.stop();
      } else {
        // Hashed from the bytes in the file: what the segment's signature must cover.
        this.keys?.segment(s.trailer.record!, where);
        r.addIntact(info, s.trailer.offset + s.trailer.length);
      }
      this.chain = [stored];
    }
    this.remember(info.index, stored, s.step.offset);
    this.expect = info.index + 1;
  }

  /**
   * A segment whose trailer names another place: moved, copied, or after a
   * gap. An intact segment in the wrong place still matches its hash when
   * chained to its real predecessor (`intactElsewhere`), if that one was seen.
   */
  private outOfPlace(s: Examined, intactElsewhere: boolean | null): void {
    const r = this.r;
    const { info, stored, where } = s;
    const expect = this.expect;
    this.keys?.stop();
    const twin = this.seen.get(info.index);
    if (intactElsewhere === false) {
      r.problem(
        "modified",
        { segment: expect, offset: s.step.offset },
        `its trailer at byte ${s.trailer.offset} says segment ${info.index} where segment ${expect} belongs, and it does not match its hash`,
      );
      this.chainLost = true;
      this.expect++;
    } else if (twin && bytesEqual(twin.hash, stored)) {
      // A copy of a segment already counted is not a segment of the file.
      r.problem("reordered", where, `a copy of segment ${info.index} (at byte ${twin.offset})`);
      return;
    } else if (info.index > expect) {
      const missing = info.index === expect + 1 ? `segment ${expect} is` : `segments ${expect} to ${info.index - 1} are`;
      r.problem("reordered", where, `it follows segment ${expect - 1}: ${missing} missing or out of order`);
      this.chain = [stored];
      this.chainLost = false;
      this.expect = info.index + 1;
    } else {
      r.problem("reordered", where, `out of order: it comes after segment ${expect - 1}`);
    }
    this.count(s);
    if (s.problem) r.problem("modified", where, s.problem);
    if (intactElsewhere !== false) this.remember(info.index, stored, s.step.offset);
    this.mismatch = null;
  }

  private finish(): void {
    const r = this.r;
    if (this.orphan) {
      const o = this.orphan;
      this.orphan = null;
      r.problem("truncated", { segment: o.number, offset: o.offset }, `the file ends after its data frame, without its trailer; intact: ${describeIntact(r.intact)}`);
      this.ended = "truncated";
    }
    if (this.phase === "header") return;
    r.segments = this.totals.segments;
    if (!r.sealed) {
      if (!this.chainLost && this.chain.length > 0) r.finalHash = this.chain[0]!;
      // After a forged segment, a missing seal is part of the forgery, not a crash.
      const forged = r.hasProblem("bad_signature");
      if (this.ended === "eof" && !forged) r.problem("unsealed", {}, `no seal: the recorder did not close the file cleanly; intact: ${describeIntact(r.intact)}`);
    }
  }
}
