// Reads a capture (docs/FORMAT.md) as a stream of checked items: the walk's
// header and segments' items in file order, damage kept aside and reported
// once every intact item has been handed on. It trusts nothing in the file
// (walk.ts and the strict decoder see to that) and does not check the hash
// chain: that is src/verify/'s job.
import { DamagedInputError } from "../errors.ts";
import type { CaptureHeader, CaptureItem, SegmentInfo } from "../event.ts";
import { ContentError } from "./items.ts";
import { type SegmentStep, walkCapture, type WalkOptions } from "./walk.ts";

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
 * How a reader gets a segment's output: started when the walk reaches the
 * segment, taken later, in file order. Up to `depth` segments may be started
 * and not yet taken, so that they can be decoded elsewhere meanwhile (worker
 * threads); with depth 0 each is taken at once, while its frame is current.
 */
export interface SegmentDecoder<T> {
  readonly depth: number;
  /** The thunk yields the segment's output; it throws ContentError (at the call or while iterating) for a bad one. */
  start(step: SegmentStep): () => Iterable<T>;
  /** The output of items decoded here: those after the header in its frame (another writer's). */
  inThread(items: Iterable<CaptureItem>): Iterable<T>;
}

const inThisThread: SegmentDecoder<CaptureItem> = { depth: 0, start: (step) => () => step.items(), inThread: (items) => items };

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
export function readCapture(path: string, opts: ReadOptions = {}): Generator<CaptureItem, void, undefined> {
  return readCaptureWith(path, opts, inThisThread);
}

type Pending<T> = { kind: "segment"; offset: number; number: number; take: () => Iterable<T> } | { kind: "damage"; offset: number; problem: string };

/**
 * readCapture with each segment's output from `decoder`: the header, then
 * what the decoder makes of each segment, in file order, the damage policy
 * the same (a segment's ContentError is damage at that segment).
 */
export function* readCaptureWith<T>(path: string, opts: ReadOptions, decoder: SegmentDecoder<T>): Generator<CaptureHeader | T, void, undefined> {
  const skipSegment = opts.skipSegment;
  const damage: { offset: number; problem: string }[] = [];
  const pending: Pending<T>[] = [];
  let sawHeader = false;
  function* take(p: Pending<T>): Generator<T, void, undefined> {
    if (p.kind === "damage") return void damage.push(p);
    try {
      yield* p.take();
    } catch (e) {
      if (!(e instanceof ContentError)) throw e;
      damage.push({ offset: p.offset, problem: e.describe(`segment ${p.number}`) });
    }
  }
  for (const step of walkCapture(path, opts)) {
    switch (step.kind) {
      case "header":
        if (!step.header) throw new DamagedInputError(path, step.offset, step.problem!);
        sawHeader = true;
        yield step.header;
        // The header frame's other items (another writer's): read here, nothing is pending yet.
        try {
          yield* decoder.inThread(step.items());
        } catch (e) {
          if (!(e instanceof ContentError)) throw e;
          damage.push({ offset: step.offset, problem: e.describe("header frame") });
        }
        continue;
      case "segment":
        if (skipSegment && step.trailer?.record && skipSegment(step.trailer.record.info)) continue;
        pending.push({ kind: "segment", offset: step.offset, number: step.number, take: decoder.start(step) });
        break;
      case "damage":
        // Before the header, nothing is readable: said at once.
        if (!sawHeader) throw new DamagedInputError(path, step.offset, step.problem);
        pending.push(step);
        break;
      default:
        continue;
    }
    while (pending.length > decoder.depth) yield* take(pending.shift()!);
  }
  while (pending.length > 0) yield* take(pending.shift()!);
  const [first] = damage;
  if (first) {
    const more = damage.length > 1 ? ` (the first of ${damage.length} damaged places)` : "";
    throw new DamagedInputError(path, first.offset, first.problem + more);
  }
}
