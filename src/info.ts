// `dmrec info` as a library: what a capture is and holds, from the walk's
// header, its segments' index entries (trailers) and its seal, without
// decompressing the segments whose trailer is readable; a segment without one
// (a crash before its trailer, damage) is decompressed and counted instead.
// Nothing here is verified: `dmrec verify` does that. Nothing here is Bun-only.
import { ContentError } from "./capture/items.ts";
import { type Counted, Totals } from "./capture/totals.ts";
import { keyFingerprint } from "./capture/keychain.ts";
import { walkCapture, type WalkOptions } from "./capture/walk.ts";
import { DamagedInputError } from "./errors.ts";
import type { CaptureHeader, CaptureItem, CaptureSet, HookName, SealInfo } from "./event.ts";

/** What the segments hold, by their index entries or, where a segment has none, by its items. */
export interface CaptureInfo extends Counted {
  file: string;
  /** the file's size (for a pipe, all it gave) */
  bytes: number;
  header: CaptureHeader;
  hook: HookName;
  host: CaptureHeader["host"];
  set: CaptureSet;
  /** the segments that had an index entry (trailer), out of `segments` */
  indexedSegments: number;
  /** "complete": every segment has a readable trailer; "none": none has */
  index: "complete" | "partial" | "none";
  /** the seal, present after a clean close */
  seal: SealInfo | null;
  sealed: boolean;
  /** the seal carries an Ed25519 signature (checked by verify, not here) */
  signed: boolean;
  /** the long-term key's fingerprint, from the seal: in version 1 the seal's signer, in version 2 the first key's endorser */
  signedBy: string | null;
  /** version 2: the key chain's first key, as `verify --pin` takes it, and the long-term key that endorsed it (from the header) */
  keyChain: { firstKey: string; endorsedBy: string | null } | null;
  /** the first place where reading stopped or a frame could not be read */
  damage: { offset: number; problem: string } | null;
  /** facts that disagree with each other (run `dmrec verify`) */
  warnings: string[];
}

/** The hook a capture was recorded with and the extra hooks attached: "kprobe + module_free + find_module". */
export function hookDescription(h: Pick<CaptureHeader, "hook" | "module_free" | "find_module">): string {
  return [h.hook, ...(h.module_free ? ["module_free"] : []), ...(h.find_module ? ["find_module"] : [])].join(" + ");
}

export type InfoOptions = WalkOptions;

/**
 * Describes a capture. Throws InputError for a file that cannot be opened or
 * is not a capture (or of another major version), DamagedInputError when its
 * header cannot be read; damage after the header is reported in `damage`.
 */
export function captureInfo(path: string, opts: InfoOptions = {}): CaptureInfo {
  let header: CaptureHeader | null = null;
  let seal: SealInfo | null = null;
  let damage: CaptureInfo["damage"] = null;
  let size = 0;
  const warnings: string[] = [];
  /** what the segments hold, by their index entries or, without one, by their items */
  const t = new Totals();
  let indexed = 0;
  const hurt = (offset: number, problem: string) => {
    damage ??= { offset, problem };
  };
  /** Counts a frame's items, the damage in it noted. */
  const count = (frame: { offset: number; items(): Iterable<CaptureItem> }, what: string) => {
    try {
      for (const item of frame.items()) t.addItem(item);
    } catch (e) {
      if (!(e instanceof ContentError)) throw e;
      hurt(frame.offset, e.describe(what));
    }
  };

  for (const step of walkCapture(path, opts)) {
    switch (step.kind) {
      case "header":
        if (!step.header) throw new DamagedInputError(path, step.offset, step.problem!);
        header = step.header;
        // Another writer may put events in the header's frame.
        count(step, "header frame");
        break;
      case "segment": {
        if (seal) warnings.push(`a segment at byte ${step.offset} after the seal`);
        const info = step.trailer?.record?.info;
        if (info) {
          t.addEntry(info);
          indexed++;
        } else {
          // No usable index entry: count what the segment holds.
          t.segments++;
          count(step, `segment ${step.number}`);
        }
        break;
      }
      case "seal":
        if (!header) break;
        if (seal) warnings.push(`a second seal at byte ${step.offset}`);
        seal ??= step.seal.info;
        break;
      case "meta":
        if (!header) break;
        if (step.record?.type === "segment") warnings.push(`segment ${step.record.info.index}'s trailer at byte ${step.offset} follows no data frame`);
        else if (step.problem !== null) warnings.push(`an unreadable dmrec frame at byte ${step.offset}: ${step.problem}`);
        break;
      case "damage":
        if (!header) throw new DamagedInputError(path, step.offset, step.problem);
        hurt(step.offset, step.problem);
        break;
      case "end":
        size = step.size();
        break;
    }
  }
  // The walk refuses a file without a header frame before it ends.
  const h = header!;

  if (seal) {
    const s: SealInfo = seal;
    const wrong = s.segments === t.segments ? [] : [["segments", s.segments, t.segments] as const];
    for (const [what, said, found] of [...wrong, ...t.disagreements(s)]) {
      warnings.push(`the seal says ${what} ${String(said)}, the segments hold ${String(found)}`);
    }
  }
  return {
    file: path,
    bytes: size,
    header: h,
    hook: h.hook,
    host: h.host,
    set: h.set,
    ...t.counted,
    indexedSegments: indexed,
    index: indexed === t.segments ? "complete" : indexed === 0 ? "none" : "partial",
    seal,
    sealed: seal !== null,
    signed: h.signing !== null ? seal !== null : seal?.signed_by != null,
    signedBy: seal?.signed_by ?? null,
    keyChain: h.signing && { firstKey: keyFingerprint(h.signing.first_key), endorsedBy: h.signing.endorsement?.fingerprint ?? null },
    damage,
    warnings,
  };
}
