// Reads a capture (docs/FORMAT.md) as a stream of checked items: the walk's
// header and segments' items in file order, damage kept aside and reported
// once every intact item has been handed on. It trusts nothing in the file
// (walk.ts and the strict decoder see to that) and does not check the hash
// chain: that is src/verify/'s job.
import { DamagedInputError } from "../errors.ts";
import type { CaptureItem, SegmentInfo } from "../event.ts";
import { ContentError } from "./items.ts";
import { walkCapture, type WalkOptions } from "./walk.ts";

export type { SegmentInfo } from "../event.ts";

export interface ReadOptions extends WalkOptions {
  /**
   * Called with a segment's index entry (its trailer) before the segment is
   * decompressed; returning true skips the segment, none of its items are
   * yielded. Only segments whose trailer is intact are offered; the others
   * are read. The entry is not verified: a lying index makes segments be
   * skipped or read wrongly, never the reader fail (dmrec verify checks it).
   */
  skipSegment?: (info: SegmentInfo) => boolean;
}

/**
 * The items of a capture, header first, in file order. Opening problems and
 * a file that is not a capture (or of another major version) throw
 * InputError before any item, a damaged header DamagedInputError. Damage
 * after the header does not stop the items: a segment that fails to
 * decompress or holds a bad item is left at that item and reading goes on
 * with the next frame, while a truncated or unlocatable frame ends the file.
 * Once every intact item has been yielded, the first damage is thrown as
 * DamagedInputError naming the file, the segment and its byte offset.
 */
export function* readCapture(path: string, opts: ReadOptions = {}): Generator<CaptureItem, void, undefined> {
  const skipSegment = opts.skipSegment;
  const damage: { offset: number; problem: string }[] = [];
  let sawHeader = false;
  for (const step of walkCapture(path, opts)) {
    switch (step.kind) {
      case "header":
        if (!step.header) throw new DamagedInputError(path, step.offset, step.problem!);
        sawHeader = true;
        yield step.header;
        break;
      case "segment":
        if (skipSegment && step.trailer?.record && skipSegment(step.trailer.record.info)) continue;
        break;
      case "damage":
        // Before the header, nothing is readable: said at once.
        if (!sawHeader) throw new DamagedInputError(path, step.offset, step.problem);
        damage.push(step);
        continue;
      default:
        continue;
    }
    // The header frame's other items (another writer's), or a segment's.
    try {
      yield* step.items();
    } catch (e) {
      if (!(e instanceof ContentError)) throw e;
      damage.push({ offset: step.offset, problem: e.describe(step.kind === "header" ? "header frame" : `segment ${step.number}`) });
    }
  }
  const [first] = damage;
  if (first) {
    const more = damage.length > 1 ? ` (the first of ${damage.length} damaged places)` : "";
    throw new DamagedInputError(path, first.offset, first.problem + more);
  }
}
