// Reads a capture (docs/FORMAT.md) as a stream of checked items. It trusts
// nothing in the file: memory is bounded by one frame, every frame boundary
// is checked before decompressing (node:zlib accepts a truncated frame), and
// every item is type-checked before it is handed on. It does not check the
// hash chain: that is src/verify.ts's job.
import { closeSync } from "node:fs";
import { DamagedInputError, InputError } from "../errors.ts";
import type { CaptureItem, SegmentInfo } from "../event.ts";
import { headerRefusal, InvalidItemError, toCaptureItem, tryDecodeMeta } from "./codec.ts";
import {
  decodeFrame,
  describeFailure,
  type MetaFrame,
  openInput,
  scanFrames,
  scanWindow,
} from "./scan.ts";
import { DMREC_META_MAGIC } from "./zstd_frames.ts";

export type { SegmentInfo } from "../event.ts";
export { MAX_CONTENT_BYTES, MAX_FRAME_BYTES, MAX_META_BYTES } from "./scan.ts";

export interface ReadOptions {
  /** largest zstd frame accepted, compressed (default MAX_FRAME_BYTES) */
  maxFrameBytes?: number;
  /** largest content of one frame accepted, decompressed (default MAX_CONTENT_BYTES) */
  maxContentBytes?: number;
  /**
   * Called with a segment's index entry (its trailer) before the segment is
   * decompressed; returning true skips the segment, none of its items are
   * yielded. Only segments whose trailer is intact are offered; the others
   * are read. The entry is not verified: a lying index makes segments be
   * skipped or read wrongly, never the reader fail (dmrec verify checks it).
   */
  skipSegment?: (info: SegmentInfo) => boolean;
}

interface Damage {
  offset: number;
  problem: string;
}

/**
 * The items of a capture, header first, in file order. Opening problems and
 * a file that is not a capture (or of another major version) throw
 * InputError before any item. Damage after the header does not stop the
 * items: a segment that fails to decompress, decode or check is skipped and
 * reading goes on with the next frame, while a truncated or unparseable
 * frame ends the file. Once every intact item has been yielded, the first
 * damage is thrown as DamagedInputError naming its byte offset.
 */
export function* readCapture(path: string, opts: ReadOptions = {}): Generator<CaptureItem, void, undefined> {
  const skipSegment = opts.skipSegment;
  const fd = openInput(path);
  try {
    const { limits, win } = scanWindow(fd, path, opts);
    if (!win.fill(1)) throw new InputError(path, "empty file, not a capture");
    const damage: Damage[] = [];
    let sawHeader = false;
    let afterSegment = false;
    // Until the header is seen, failures mean "not a capture" or "damaged
    // where nothing is readable": both are reported at once.
    const fatal: (offset: number, problem: string, notCapture: boolean) => never = (offset, problem, notCapture) => {
      throw notCapture ? new InputError(path, `not a dmrec capture (${problem})`) : new DamagedInputError(path, offset, problem);
    };

    for (const frame of scanFrames(win, limits, skipSegment !== undefined)) {
      if (frame.kind === "truncated") {
        let problem = !sawHeader ? "truncated header frame" : "truncated segment";
        if (frame.frame === "skippable") {
          problem =
            // A cut magic number is taken for dmrec's, the only one it writes.
            frame.magic !== DMREC_META_MAGIC && frame.magic !== null
              ? "truncated skippable frame"
              : afterSegment
                ? "truncated segment trailer"
                : "truncated seal";
        }
        damage.push({ offset: frame.offset, problem });
        break;
      }
      if (frame.kind === "oversized") {
        damage.push({ offset: frame.offset, problem: `segment larger than the ${frame.limit}-byte frame limit` });
        break;
      }
      if (frame.kind === "invalid") {
        if (!sawHeader) fatal(frame.offset, frame.problem, frame.notZstd);
        damage.push(frame);
        break;
      }
      if (frame.kind === "skippable" || frame.kind === "meta") {
        afterSegment = false;
        continue;
      }
      afterSegment = sawHeader;
      if (sawHeader && skipSegment && frame.next) {
        const info = segmentInfoOf(frame.next);
        if (info && skipSegment(info)) continue;
      }

      const { values, failure } = decodeFrame(frame.bytes, frame.contentSize, limits.maxContentBytes);
      const problem = failure && describeFailure(sawHeader ? "segment" : "header frame", failure);
      if (!sawHeader) {
        // Intact zstd holding something that is not CBOR is another kind of file.
        if (problem && values.length === 0) {
          const notCbor = failure.stage === "cbor";
          fatal(frame.offset, notCbor ? `not CBOR: ${failure.text}` : problem, notCbor);
        }
        const refusal = headerRefusal(values[0]);
        if (refusal) throw new InputError(path, refusal);
      }
      let index = 0;
      for (; index < values.length; index++) {
        let item: CaptureItem | null;
        try {
          item = toCaptureItem(values[index]);
        } catch (e) {
          if (!(e instanceof InvalidItemError)) throw e;
          const where = sawHeader ? `invalid item ${index + 1} in segment` : "invalid header";
          if (!sawHeader) fatal(frame.offset, `${where}: ${e.message}`, false);
          damage.push({ offset: frame.offset, problem: `${where}: ${e.message}` });
          break;
        }
        sawHeader = true;
        if (item) yield item;
      }
      // One damage per frame: a bad item already reported it.
      if (problem && index === values.length) damage.push({ offset: frame.offset, problem });
    }

    if (!sawHeader && damage.length === 0) throw new InputError(path, "not a dmrec capture (no zstd data frame)");
    const [first] = damage;
    if (first) {
      const more = damage.length > 1 ? ` (the first of ${damage.length} damaged places)` : "";
      throw new DamagedInputError(path, first.offset, first.problem + more);
    }
  } finally {
    closeSync(fd);
  }
}

/** A trailer's index entry, or null when the frame is anything else or unreadable. */
function segmentInfoOf(meta: MetaFrame): SegmentInfo | null {
  const record = tryDecodeMeta(meta.payload);
  return record?.type === "segment" ? record.info : null;
}
