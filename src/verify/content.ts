// Whether a segment's data frame holds what its index entry (trailer) says:
// counts, the events' time range and module names. Items are read one at a
// time and only what the comparison needs is kept: the names the entry
// lists, and a bounded number of the others, long names by their hash.
import { toHex } from "../bytes.ts";
import { sha256 } from "../capture/chain.ts";
import { ContentError } from "../capture/items.ts";
import { Totals } from "../capture/totals.ts";
import type { FrameItems } from "../capture/walk.ts";
import type { SegmentInfo } from "../event.ts";
import { plural } from "./text.ts";

/** Names not in the index entry kept to count them, at most: enough to say how many, for real segments. */
const MAX_UNLISTED = 1024;

/** Names up to this long are keys as they are; longer ones by their hash, so that a set of them stays small. */
const KEYED_AS_IS = 64;

/** A name as a string key, distinct for distinct names. */
function nameKey(b: Uint8Array): string {
  return b.length <= KEYED_AS_IS ? `=${Buffer.from(b.buffer, b.byteOffset, b.length).toString("latin1")}` : `#${toHex(sha256(b))}`;
}

/** A frame's content problem in verify's words: "its data frame is corrupt (zstd: ...)". */
export function contentProblem(e: ContentError, frame: string): string {
  if (e.stage === "item") return e.describe(frame);
  return e.stage === "zstd" ? `${frame} is corrupt (zstd: ${e.text})` : `${frame}: ${e.text}`;
}

/**
 * Reads a segment's items against `info`: what they hold (as the totals of
 * one segment), and the first way
 * the content is bad or disagrees with the entry (null when it agrees). With
 * no entry to compare to (`info` null), only the content is judged.
 */
export function examineSegment(segment: FrameItems, info: SegmentInfo | null): { content: Totals | null; problem: string | null } {
  // One segment: added to the file's totals as its content.
  const c = new Totals();
  c.segments = 1;
  /** the listed names, and whether an event has each */
  const listed = new Map<string, boolean>();
  let listedTwice = false;
  for (const m of info?.modules ?? []) {
    const k = nameKey(m);
    if (listed.has(k)) listedTwice = true;
    listed.set(k, false);
  }
  const unlisted = new Set<string>();
  let moreUnlisted = false;
  try {
    for (const item of segment.items()) {
      if (item.type === "header") return { content: null, problem: "its data frame holds a header" };
      c.addItem(item);
      if (item.type !== "event" || item.name === null) continue;
      const k = nameKey(item.name);
      if (listed.has(k)) listed.set(k, true);
      else if (unlisted.size < MAX_UNLISTED) unlisted.add(k);
      else moreUnlisted ||= !unlisted.has(k);
    }
  } catch (e) {
    if (!(e instanceof ContentError)) throw e;
    return { content: null, problem: contentProblem(e, "its data frame") };
  }
  if (!info) return { content: c, problem: null };
  // Aggregates absent from a trailer written before they existed count as 0, which its data must hold too.
  const [wrong] = c.disagreements(info);
  let problem: string | null = null;
  if (wrong) problem = `its index entry says ${wrong[0]} ${String(wrong[1])}, its data holds ${String(wrong[2])}`;
  else if ([...listed.values()].includes(false)) problem = "its index entry lists a module name that none of its events has";
  else if (listedTwice) problem = "its index entry lists a module name twice";
  else if (info.modules_complete && unlisted.size > 0) {
    const others = moreUnlisted ? `more than ${unlisted.size} others` : plural(unlisted.size, "other");
    problem = `its index entry lists ${plural(listed.size, "module name")} as complete, its events have ${others}`;
  }
  return { content: c, problem };
}
