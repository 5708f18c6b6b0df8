// Reading the items of a frame and the payloads of dmrec's skippable frames
// (docs/FORMAT.md, "Items", "Segment trailer", "Seal") through the strict
// cursor and the schemas: one item at a time, so that a frame's items never
// sit in memory together, each within the frame's budget (limits.ts).
import type { CaptureItem, SealInfo, SegmentInfo } from "../event.ts";
import { Cursor, InvalidItemError } from "./cbor.ts";
import { MAX_FRAME_DATA_ITEMS, MAX_FRAME_ITEMS, MAX_ITEM_DEPTH, MAX_META_DEPTH, MAX_META_ITEMS } from "./limits.ts";
import { encodedText, FORMAT_NAME, ITEMS, READ_VERSIONS, WANT } from "./schema.ts";

const TYPE_KEY = encodedText("type");
const KNOWN_TYPES = (["event", "aggregate", "loss", "clock", "header"] as const).map((t) => [encodedText(t), t] as const);

/**
 * The `type` of the map at the cursor, which does not move: read as bytes
 * when it is the first key (as dmrec writes it), else looked for among the
 * keys. InvalidItemError when there is none or it is not text.
 */
function itemType(c: Cursor): string {
  const start = c.pos;
  const budget = c.dataItems;
  try {
    const n = c.mapHead("item", WANT.map);
    for (let i = 0; i < n; i++) {
      const isType = c.take(TYPE_KEY) || (c.key() === "type");
      if (!isType) {
        c.skip(1);
        continue;
      }
      for (const [enc, t] of KNOWN_TYPES) if (c.take(enc)) return t;
      return c.text("type", WANT.text);
    }
    throw new InvalidItemError(`missing key "type"`, start);
  } finally {
    c.pos = start;
    c.dataItems = budget;
  }
}

/**
 * The item at the cursor, checked and normalized, the cursor moved past it;
 * null for an item type this version does not know (checked, then skipped).
 */
export function decodeItem(c: Cursor): CaptureItem | null {
  if (!c.isMap()) throw new InvalidItemError(`item is ${c.describe()}, not a map`, c.pos);
  switch (itemType(c)) {
    case "event":
      return ITEMS.event.decode(c, "", 0);
    case "aggregate":
      return ITEMS.aggregate.decode(c, "", 0);
    case "loss":
      return ITEMS.loss.decode(c, "", 0);
    case "clock":
      return ITEMS.clock.decode(c, "", 0);
    case "header":
      return ITEMS.header.decode(c, "", 0);
    default:
      c.skip(0);
      return null;
  }
}

/** A cursor over a frame's content with the frame's budget. */
export function contentCursor(content: Uint8Array): Cursor {
  return new Cursor(content, 0, content.length, MAX_FRAME_DATA_ITEMS, MAX_ITEM_DEPTH);
}

/**
 * Why a frame's content could not be read, past what was read of it: over
 * the content limit, refused by zstd, or an item (the first bad one; the rest
 * of the frame is not read).
 */
export class ContentError extends Error {
  constructor(
    readonly stage: "limit" | "zstd" | "item",
    readonly text: string,
    /** the bad item's 1-based place in its frame, for stage "item" */
    readonly item: number | null = null,
    /** offset in the frame's content of the offending byte */
    readonly at: number | null = null,
  ) {
    super(text);
    this.name = "ContentError";
  }

  /** The problem, naming the frame as `what` ("segment 2"): "invalid item 3 in segment 2 (content byte 120): ..." */
  describe(what: string): string {
    if (this.stage === "limit") return `${what}: ${this.text}`;
    if (this.stage === "zstd") return `corrupt ${what} (zstd: ${this.text})`;
    return `invalid item ${this.item} in ${what}${this.at === null ? "" : ` (content byte ${this.at})`}: ${this.text}`;
  }
}

/**
 * The items from the cursor to the end of its bytes, decoded one at a time.
 * Unknown item types count in the places but are not yielded. The first
 * invalid item throws ContentError; the items after it are not read.
 */
export function* decodeItems(c: Cursor, first = 1): Generator<CaptureItem, void, undefined> {
  for (let n = first; !c.atEnd; n++) {
    const at = c.pos;
    let item: CaptureItem | null;
    try {
      if (n > MAX_FRAME_ITEMS) throw new InvalidItemError(`more than ${MAX_FRAME_ITEMS} items in one frame`, at);
      c.spend(1);
      item = decodeItem(c);
    } catch (e) {
      if (e instanceof InvalidItemError) throw new ContentError("item", e.message, n, e.at ?? at);
      throw e;
    }
    if (item) yield item;
  }
}

/**
 * Why a file whose first item is at the cursor is not a capture this dmrec
 * reads, or null when it is one: other files and other major versions are
 * refused before anything else about them is judged. The cursor does not move.
 */
export function headerRefusal(c: Cursor): string | null {
  const notOurs = "not a dmrec capture (its first item is not a dmrec header)";
  const start = c.pos;
  const budget = c.dataItems;
  try {
    if (!c.isMap()) {
      // Whether it is CBOR at all says which kind of file this is not.
      c.skip(0);
      return notOurs;
    }
    const n = c.mapHead("item", WANT.map);
    const got: { type?: string; format?: string; version?: string } = {};
    for (let i = 0; i < n && (got.type === undefined || got.format === undefined || got.version === undefined); i++) {
      const k = c.key();
      if (k === "type" || k === "format") got[k] = c.isText() ? c.text(k, WANT.text) : "";
      else if (k === "version") {
        got.version = c.describe();
        c.skip(1);
      } else {
        c.skip(1);
      }
    }
    if (got.type !== "header" || got.format !== FORMAT_NAME) return notOurs;
    if (!READ_VERSIONS.some((v) => got.version === `integer ${v}`)) {
      const v = got.version?.replace(/^integer /, "") ?? "(none)";
      return `capture format version ${v} is not supported (this dmrec reads versions ${READ_VERSIONS.join(" and ")})`;
    }
    return null;
  } catch (e) {
    if (!(e instanceof InvalidItemError)) throw e;
    return `not a dmrec capture (not CBOR: ${e.message.replace(/^CBOR: /, "")})`;
  } finally {
    c.pos = start;
    c.dataItems = budget;
  }
}

/** A segment trailer's payload, decoded and checked. */
export interface SegmentTrailer {
  type: "segment";
  info: SegmentInfo;
  /** the info item's exact bytes, as hashed */
  infoRaw: Uint8Array;
  hash: Uint8Array;
  /** the key chain's (version 2): the public key that signs the next segment or the seal, and this key's signature */
  nextKey: Uint8Array | null;
  signature: Uint8Array | null;
  /** every item of the payload, exact bytes, in order (the info item first) */
  raw: Uint8Array[];
}

/** The seal's payload, decoded and checked. */
export interface SealRecord {
  type: "seal";
  info: SealInfo;
  /** the info item's exact bytes, as hashed and signed */
  infoRaw: Uint8Array;
  hash: Uint8Array;
  signature: Uint8Array | null;
  /** version 2: the first key of the next file of the set, null for the last */
  nextFileKey: Uint8Array | null;
  raw: Uint8Array[];
}

/** A dmrec skippable frame's payload. */
export type MetaRecord = SegmentTrailer | SealRecord | { type: "unknown"; name: string; raw: Uint8Array[] };

/**
 * Decodes the payload of a skippable frame with DMREC_META_MAGIC. Throws
 * InvalidItemError (its `at` an offset in the payload) when it is not a
 * sequence of valid items, not the two items its type needs, or an item does
 * not match its schema. An unknown `type` is returned as such (readers skip
 * it, verify refuses it).
 */
export function decodeMeta(payload: Uint8Array): MetaRecord {
  const c = new Cursor(payload, 0, payload.length, MAX_FRAME_DATA_ITEMS, MAX_META_DEPTH);
  const starts: number[] = [];
  while (!c.atEnd) {
    if (starts.length === MAX_META_ITEMS) throw new InvalidItemError(`more than ${MAX_META_ITEMS} items`, c.pos);
    starts.push(c.pos);
    c.skip(0);
  }
  if (starts.length === 0) throw new InvalidItemError("empty payload", 0);
  const raw = starts.map((s, i) => payload.slice(s, starts[i + 1] ?? payload.length));
  const at = (i: number) => new Cursor(payload, starts[i]!, starts[i + 1] ?? payload.length, MAX_FRAME_DATA_ITEMS, MAX_META_DEPTH);
  const first = at(0);
  if (!first.isMap()) throw new InvalidItemError(`first item is ${first.describe()}, not a map`, 0);
  const type = itemType(first);
  if (type !== "segment" && type !== "seal") return { type: "unknown", name: type, raw };
  if (raw.length !== 2) throw new InvalidItemError(`a ${type} payload holds 2 items, this one ${raw.length}`, starts[2] ?? 0);
  if (type === "segment") {
    const info = ITEMS.segmentInfo.decode(first, "", 0);
    const { hash, next_key, signature } = ITEMS.segmentHash.decode(at(1), "", 0);
    return { type, info, infoRaw: raw[0]!, hash, nextKey: next_key, signature, raw };
  }
  const info = ITEMS.sealInfo.decode(first, "", 0);
  const { hash, signature, next_file_key } = ITEMS.sealHash.decode(at(1), "", 0);
  return { type, info, infoRaw: raw[0]!, hash, signature, nextFileKey: next_file_key, raw };
}
