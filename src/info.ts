// `dmrec info` as a library: what a capture is and holds, from its header,
// its segments' index entries (trailers) and its seal, without decompressing
// the segments whose trailer is readable; a segment without one (a crash
// before its trailer, damage) is decompressed and counted instead. Nothing
// here is verified: `dmrec verify` does that. Nothing here is Bun-only.
import { closeSync } from "node:fs";
import { headerRefusal, InvalidItemError, toCaptureItem, tryDecodeMeta } from "./capture/codec.ts";
import {
  decodeFrame,
  describeFailure,
  openInput,
  scanFrames,
  scanWindow,
} from "./capture/scan.ts";
import { DMREC_META_MAGIC } from "./capture/zstd_frames.ts";
import { DamagedInputError, InputError } from "./errors.ts";
import type { CaptureHeader, CaptureSet, HookName, SealInfo } from "./event.ts";

export interface CaptureInfo {
  file: string;
  /** bytes read: the file's size, unless damage stopped the reading */
  bytes: number;
  header: CaptureHeader;
  hook: HookName;
  host: CaptureHeader["host"];
  set: CaptureSet;
  segments: number;
  events: number;
  /** loss records */
  losses: number;
  /** calls lost, the sum of the loss records' counts */
  lostCalls: number;
  /** aggregate records */
  aggregates: number;
  /** calls they count, each in no event: the sum of their counts */
  aggregatedCalls: number;
  /** smallest and largest event ts_ns; null without events */
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
  /** the segments that had an index entry (trailer), out of `segments` */
  indexedSegments: number;
  /** "complete": every segment has a readable trailer; "none": none has */
  index: "complete" | "partial" | "none";
  /** the seal, present after a clean close */
  seal: SealInfo | null;
  sealed: boolean;
  /** the seal carries an Ed25519 signature (checked by verify, not here) */
  signed: boolean;
  /** the signing key's fingerprint, from the seal */
  signedBy: string | null;
  /** where reading stopped or a segment could not be read, the first such place */
  damage: { offset: number; problem: string } | null;
  /** facts that disagree with each other (run `dmrec verify`) */
  warnings: string[];
}

export interface InfoOptions {
  maxFrameBytes?: number;
  maxContentBytes?: number;
}

/**
 * Describes a capture. Throws InputError for a file that cannot be opened or
 * is not a capture (or of another major version), DamagedInputError when its
 * header cannot be read; damage after the header is reported in `damage`.
 */
export function captureInfo(path: string, opts: InfoOptions = {}): CaptureInfo {
  const fd = openInput(path);
  try {
    const { limits, win } = scanWindow(fd, path, opts);
    if (!win.fill(1)) throw new InputError(path, "empty file, not a capture");
    let header: CaptureHeader | null = null;
    let seal: SealInfo | null = null;
    let damage: CaptureInfo["damage"] = null;
    const warnings: string[] = [];
    const t = {
      segments: 0,
      indexed: 0,
      events: 0,
      losses: 0,
      lostCalls: 0,
      aggregates: 0,
      aggregatedCalls: 0,
      min: null as bigint | null,
      max: null as bigint | null,
    };
    const addTs = (v: bigint | null) => {
      if (v === null) return;
      if (t.min === null || v < t.min) t.min = v;
      if (t.max === null || v > t.max) t.max = v;
    };
    const hurt = (offset: number, problem: string) => {
      damage ??= { offset, problem };
    };
    /** Counts decoded items of a frame that has no usable index entry. */
    const count = (values: unknown[], offset: number, where: string) => {
      for (let i = 0; i < values.length; i++) {
        let item;
        try {
          item = toCaptureItem(values[i]);
        } catch (e) {
          if (!(e instanceof InvalidItemError)) throw e;
          hurt(offset, `invalid item ${i + 1} in ${where}: ${e.message}`);
          return;
        }
        if (item?.type === "event") {
          t.events++;
          addTs(item.ts_ns);
        } else if (item?.type === "loss") {
          t.losses++;
          t.lostCalls += item.count;
        } else if (item?.type === "aggregate") {
          t.aggregates++;
          t.aggregatedCalls += item.count;
        }
      }
    };
    let consumedMeta = -1;
    let end = 0;
    let afterSegment = false;

    for (const f of scanFrames(win, limits, true)) {
      end = "length" in f ? f.offset + f.length : f.offset;
      if (f.kind === "truncated") {
        if (!header) throw new DamagedInputError(path, f.offset, "truncated header frame");
        const what =
          f.frame === "standard"
            ? "segment"
            : f.magic !== DMREC_META_MAGIC && f.magic !== null
              ? "skippable frame"
              : afterSegment
                ? "segment trailer"
                : "seal";
        hurt(f.offset, `truncated ${what}`);
        break;
      }
      if (f.kind === "invalid") {
        if (!header) {
          if (f.notZstd) throw new InputError(path, `not a dmrec capture (${f.problem})`);
          throw new DamagedInputError(path, f.offset, f.problem);
        }
        hurt(f.offset, f.problem);
        break;
      }
      if (f.kind === "oversized") {
        if (!header) throw new DamagedInputError(path, f.offset, `header frame larger than the ${f.limit}-byte frame limit`);
        hurt(f.offset, `segment larger than the ${f.limit}-byte frame limit`);
        break;
      }
      if (f.kind === "skippable") {
        afterSegment = false;
        continue;
      }
      if (f.kind === "meta") {
        afterSegment = false;
        if (f.offset === consumedMeta || !header) continue;
        const meta = tryDecodeMeta(f.payload);
        if (meta?.type === "seal") {
          if (seal) warnings.push(`a second seal at byte ${f.offset}`);
          seal ??= meta.info;
        } else if (meta?.type === "segment") {
          warnings.push(`segment ${meta.info.index}'s trailer at byte ${f.offset} follows no data frame`);
        }
        continue;
      }
      // A standard frame: the header, then segments.
      if (!header) {
        const first = readHeader(path, f.offset, f.bytes, f.contentSize, limits.maxContentBytes);
        header = first.header;
        // Another writer may put events in the header's frame.
        count(first.rest, f.offset, "header frame");
        continue;
      }
      afterSegment = true;
      t.segments++;
      if (seal) warnings.push(`a segment at byte ${f.offset} after the seal`);
      const meta = f.next ? tryDecodeMeta(f.next.payload) : null;
      if (meta?.type === "segment") {
        consumedMeta = f.next!.offset;
        t.indexed++;
        t.events += meta.info.events;
        t.losses += meta.info.losses;
        t.lostCalls += meta.info.lost_calls;
        t.aggregates += meta.info.aggregates;
        t.aggregatedCalls += meta.info.aggregated_calls;
        addTs(meta.info.first_ts_ns);
        addTs(meta.info.last_ts_ns);
        continue;
      }
      // No usable index entry: count what the segment holds.
      const { values, failure } = decodeFrame(f.bytes, f.contentSize, limits.maxContentBytes);
      count(values, f.offset, "segment");
      if (failure) hurt(f.offset, describeFailure("segment", failure));
    }
    if (!header) throw new InputError(path, "not a dmrec capture (no zstd data frame)");

    if (seal) {
      const s: SealInfo = seal;
      const claims: [string, unknown, unknown][] = [
        ["segments", s.segments, t.segments],
        ["events", s.events, t.events],
        ["loss records", s.losses, t.losses],
        ["calls lost", s.lost_calls, t.lostCalls],
        ["aggregates", s.aggregates, t.aggregates],
        ["calls aggregated", s.aggregated_calls, t.aggregatedCalls],
        ["first_ts_ns", s.first_ts_ns, t.min],
        ["last_ts_ns", s.last_ts_ns, t.max],
      ];
      for (const [what, said, found] of claims) {
        if (said !== found) warnings.push(`the seal says ${what} ${String(said)}, the segments hold ${String(found)}`);
      }
    }
    const h: CaptureHeader = header;
    return {
      file: path,
      bytes: end,
      header: h,
      hook: h.hook,
      host: h.host,
      set: h.set,
      segments: t.segments,
      events: t.events,
      losses: t.losses,
      lostCalls: t.lostCalls,
      aggregates: t.aggregates,
      aggregatedCalls: t.aggregatedCalls,
      firstTsNs: t.min,
      lastTsNs: t.max,
      indexedSegments: t.indexed,
      index: t.indexed === t.segments ? "complete" : t.indexed === 0 ? "none" : "partial",
      seal,
      sealed: seal !== null,
      signed: seal?.signed_by != null,
      signedBy: seal?.signed_by ?? null,
      damage,
      warnings,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * The header from the first standard frame, and the values that follow it
 * there, with the reader's verdicts on a file that has none.
 */
function readHeader(
  path: string,
  offset: number,
  bytes: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { header: CaptureHeader; rest: unknown[] } {
  const { values, failure } = decodeFrame(bytes, contentSize, maxContent);
  if (failure && values.length === 0) {
    if (failure.stage === "cbor") throw new InputError(path, `not a dmrec capture (not CBOR: ${failure.text})`);
    throw new DamagedInputError(path, offset, describeFailure("header frame", failure));
  }
  const refusal = headerRefusal(values[0]);
  if (refusal) throw new InputError(path, refusal);
  try {
    return { header: toCaptureItem(values[0]) as CaptureHeader, rest: values.slice(1) };
  } catch (e) {
    if (!(e instanceof InvalidItemError)) throw e;
    throw new DamagedInputError(path, offset, `invalid header: ${e.message}`);
  }
}
