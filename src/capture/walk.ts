// The one walk through a capture (docs/FORMAT.md, "Reading a capture") that
// every reader reacts to: readCapture yields items, info counts, verify
// checks. It reads the file once, sequentially, and says what is where, in
// file order: the header, each segment (its data frame and the trailer after
// it), skippable frames of other kinds, dmrec frames out of place, the seal,
// the damage that ends the reading (named once: which frame the file ends
// in, bytes that are not a frame, a frame over the limit), and the end. What
// it holds is one frame and the trailer after it: a segment's items are
// decompressed when asked for and decoded one at a time, and the content is
// freed as soon as they have been read. It decides nothing else: whether a
// damaged header, a segment without trailer or a second seal matters is each
// reader's to say.
import { closeSync } from "node:fs";
import { NotCaptureError } from "../errors.ts";
import type { CaptureHeader, CaptureItem } from "../event.ts";
import { InvalidItemError } from "./cbor.ts";
import { ContentError, contentCursor, decodeItem, decodeItems, decodeMeta, headerRefusal, type MetaRecord, type SealRecord, type SegmentTrailer } from "./items.ts";
import { decompressFrame, FileWindow, FrameScanner, type MetaFrame, openInput, scanLimits } from "./scan.ts";
import { DMREC_META_MAGIC } from "./zstd_frames.ts";

export interface WalkOptions {
  /** largest zstd frame accepted, compressed (default MAX_FRAME_BYTES) */
  maxFrameBytes?: number;
  /** largest content of one frame accepted, decompressed (default MAX_CONTENT_BYTES) */
  maxContentBytes?: number;
}

/** Where a frame is in the file. */
export interface FrameAt {
  offset: number;
  /** the whole frame, headers included */
  length: number;
}

/** A frame's items, read when asked for. */
export interface FrameItems {
  /**
   * The frame's items (for the header frame: those after the header), one
   * at a time. Throws ContentError, at the call (the content could not be
   * had) or while iterating (an item is bad; those before it were yielded).
   * Only while the walk has not moved on.
   */
  items(): Iterable<CaptureItem>;
}

export interface HeaderStep extends FrameAt, FrameItems {
  kind: "header";
  /** the whole frame as in the file (the chain starts from it); valid until the walk moves on */
  bytes: Uint8Array;
  /** null when the frame is damaged: `problem` says how, and `failure` when its content could not be had */
  header: CaptureHeader | null;
  problem: string | null;
  failure: ContentError | null;
}

/** A dmrec frame right after a data frame, taken as its trailer: decoded, or why not. */
export interface TrailerAt extends FrameAt {
  record: SegmentTrailer | null;
  problem: string | null;
}

export interface SegmentStep extends FrameAt, FrameItems {
  kind: "segment";
  /** its place among the data frames of the file, from 1 */
  number: number;
  /** the whole data frame as in the file; valid until the walk moves on */
  bytes: Uint8Array;
  /** the dmrec frame right after it when that is a segment trailer or cannot be decoded; null otherwise */
  trailer: TrailerAt | null;
  /** what segmentItems needs besides `bytes`, to decode the segment elsewhere (a worker thread) */
  contentSize: bigint | null;
  maxContentBytes: number;
}

export interface SealStep extends FrameAt {
  kind: "seal";
  seal: SealRecord;
}

/** A dmrec frame that is neither a trailer in its place nor a seal: a trailer after no data frame, an unknown type, or undecodable. */
export interface MetaStep extends FrameAt {
  kind: "meta";
  record: Exclude<MetaRecord, SealRecord> | null;
  problem: string | null;
}

/** A skippable frame with another magic, or a dmrec one over the payload limit (read through, not decoded). */
export interface SkippableStep extends FrameAt {
  kind: "skippable";
  magic: number;
}

/** Which frame the file ends in. */
export type CutFrame = "header frame" | "segment" | "segment trailer" | "seal" | "skippable frame";

/** What ends the reading: nothing after it can be located. */
export type DamageStep =
  | { kind: "damage"; cause: "truncated"; offset: number; frame: CutFrame; segment: number | null; problem: string }
  | { kind: "damage"; cause: "invalid" | "oversized"; offset: number; frame: null; segment: null; problem: string };

/** The last step: where reading stopped, and the file's size (a pipe is read to its end for it). */
export interface EndStep {
  kind: "end";
  offset: number;
  size(): number;
}

export type Step = HeaderStep | SegmentStep | SealStep | MetaStep | SkippableStep | DamageStep | EndStep;

/** A dmrec payload decoded, or the reason it cannot be, with file offsets. */
function decodeMetaAt(f: MetaFrame): { record: MetaRecord | null; problem: string | null } {
  try {
    return { record: decodeMeta(f.payload), problem: null };
  } catch (e) {
    if (!(e instanceof InvalidItemError)) throw e;
    return { record: null, problem: e.at === null ? e.message : `${e.message} (byte ${f.offset + 8 + e.at})` };
  }
}

/**
 * The steps of the capture at `path` (or standard input, STDIN), in file
 * order, ending with an "end" step unless the iteration is left early (the
 * file is closed either way). Throws InputError when the file cannot be
 * opened or read, NotCaptureError when it is empty, not zstd, its first item
 * is not a dmrec header of this major version, or it holds no data frame.
 */
export function* walkCapture(path: string, opts: WalkOptions = {}): Generator<Step, void, undefined> {
  const input = openInput(path);
  try {
    const limits = scanLimits(opts);
    const win = new FileWindow(input.fd, path, limits.maxFrameBytes + 8 + limits.maxMetaBytes);
    if (!win.fill(1)) throw new NotCaptureError(path, "empty file, not a capture");
    const scanner = new FrameScanner(win, limits);
    /** which step is current: a step's items() refuse to run once the walk has moved on */
    let current = 0;
    let sawHeader = false;
    let damaged = false;
    let segments = 0;
    /** offset of the dmrec frame already given as the trailer of the data frame before it */
    let trailerAt = -1;
    /** the frame before was a data frame without its trailer */
    let afterData = false;

    const guard = (step: number) => {
      if (step !== current) throw new Error("a frame's items were asked for after the walk moved on");
    };

    for (let f = scanner.next(); f !== null; f = scanner.next()) {
      const step = ++current;
      switch (f.kind) {
        case "truncated": {
          damaged = true;
          const dmrecOrCut = f.magic === DMREC_META_MAGIC || f.magic === null;
          const frame: CutFrame =
            f.frame === "standard" ? (sawHeader ? "segment" : "header frame") : !dmrecOrCut || !sawHeader ? "skippable frame" : afterData ? "segment trailer" : "seal";
          const segment = frame === "segment" ? segments + 1 : frame === "segment trailer" ? segments : null;
          yield { kind: "damage", cause: "truncated", offset: f.offset, frame, segment, problem: `truncated ${frame}` };
          break;
        }
        case "invalid":
          if (!sawHeader && f.notZstd) throw new NotCaptureError(path, `not a dmrec capture (${f.problem})`);
          damaged = true;
          yield { kind: "damage", cause: "invalid", offset: f.offset, frame: null, segment: null, problem: f.problem };
          break;
        case "oversized":
          damaged = true;
          yield {
            kind: "damage",
            cause: "oversized",
            offset: f.offset,
            frame: null,
            segment: null,
            problem: `${sawHeader ? `segment ${segments + 1}` : "header frame"} larger than the ${f.limit}-byte frame limit`,
          };
          break;
        case "skippable":
          afterData = false;
          yield { kind: "skippable", offset: f.offset, length: f.length, magic: f.magic };
          break;
        case "meta": {
          afterData = false;
          if (f.offset === trailerAt) break;
          const { record, problem } = decodeMetaAt(f);
          if (record?.type === "seal") yield { kind: "seal", offset: f.offset, length: f.length, seal: record };
          else yield { kind: "meta", offset: f.offset, length: f.length, record, problem };
          break;
        }
        case "standard": {
          if (!sawHeader) {
            sawHeader = true;
            yield headerStep(path, f.offset, f.length, f.bytes, f.contentSize, limits.maxContentBytes, () => guard(step));
            break;
          }
          segments++;
          let trailer: TrailerAt | null = null;
          if (f.next) {
            const { record, problem } = decodeMetaAt(f.next);
            if (record === null || record.type === "segment") {
              trailer = { offset: f.next.offset, length: f.next.length, record, problem };
              trailerAt = f.next.offset;
            }
          }
          afterData = trailer === null;
          const { bytes, contentSize } = f;
          yield {
            kind: "segment",
            offset: f.offset,
            length: f.length,
            number: segments,
            bytes,
            trailer,
            contentSize,
            maxContentBytes: limits.maxContentBytes,
            items: () => {
              guard(step);
              return segmentItems(bytes, contentSize, limits.maxContentBytes);
            },
          };
          break;
        }
      }
    }
    if (!sawHeader && !damaged) throw new NotCaptureError(path, "not a dmrec capture (no zstd data frame)");
    yield { kind: "end", offset: win.offset, size: () => win.totalSize() };
  } finally {
    if (input.owned) closeSync(input.fd);
  }
}

/**
 * A segment's items from its whole data frame: ContentError at the call when
 * its content cannot be had, or while iterating at a bad item.
 */
export function segmentItems(frame: Uint8Array, contentSize: bigint | null, maxContentBytes: number): Iterable<CaptureItem> {
  const d = decompressFrame(frame, contentSize, maxContentBytes);
  if (d.failure) throw new ContentError(d.failure.stage, d.failure.text);
  return itemsThenFree(d.content);
}

/**
 * The items of a frame's content, after which (read to the end or left
 * early) the content's memory is given back at once: the garbage collector
 * does not count memory outside its heap, and would let frame after frame of
 * decompressed content pile up before collecting any. Items never share the
 * content's memory (the decoder copies what it keeps), and a content that is
 * a slice of a shared pool is left alone.
 */
function* itemsThenFree(content: Uint8Array): Generator<CaptureItem, void, undefined> {
  try {
    yield* decodeItems(contentCursor(content));
  } finally {
    // ArrayBuffer.prototype.transfer (ES2024) detaches the buffer, releasing its memory.
    const buffer = content.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
    const whole = content.byteOffset === 0 && content.byteLength === buffer.byteLength;
    if (whole && buffer.byteLength >= POOLED_BELOW && typeof buffer.transfer === "function") buffer.transfer(0);
  }
}

/** Buffers below this size may be slices of a runtime's shared pool (Node's is 8 KiB). */
const POOLED_BELOW = 64 * 1024;

/**
 * The first standard frame: refused outright when it is not a capture's
 * header of this version, damaged (header null) when it is one that cannot
 * be read.
 */
function headerStep(
  path: string,
  offset: number,
  length: number,
  bytes: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
  guard: () => void,
): HeaderStep {
  const step = { kind: "header" as const, offset, length, bytes };
  const d = decompressFrame(bytes, contentSize, maxContent);
  if (d.failure) {
    const failure = new ContentError(d.failure.stage, d.failure.text);
    return { ...step, header: null, problem: failure.describe("header frame"), failure, items: () => [] };
  }
  const c = contentCursor(d.content);
  if (c.atEnd) throw new NotCaptureError(path, "not a dmrec capture (its first frame is empty)");
  const refusal = headerRefusal(c);
  if (refusal) throw new NotCaptureError(path, refusal);
  let header: CaptureHeader;
  try {
    c.spend(1);
    header = decodeItem(c) as CaptureHeader;
  } catch (e) {
    if (!(e instanceof InvalidItemError)) throw e;
    const at = e.at === null ? "" : ` (content byte ${e.at})`;
    return { ...step, header: null, problem: `invalid header${at}: ${e.message}`, failure: null, items: () => [] };
  }
  return {
    ...step,
    header,
    problem: null,
    failure: null,
    items: () => {
      guard();
      return decodeItems(c, 2);
    },
  };
}
