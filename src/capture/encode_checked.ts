// The checked (general, slow) CBOR encoder for what is written once per file
// or segment: the header, and the trailers' and the seal's two items, each
// checked with the reader's own schema first (schema.ts). Segment items go
// through the fast encoder in encode.ts, which test/unit/encode.test.ts holds
// to the schemas and to this encoder's bytes.
import { Encoder } from "cbor-x";
import type { CaptureItem, SealInfo, SegmentInfo } from "../event.ts";
import { InvalidItemError } from "./cbor.ts";
import { ITEMS, type SealHashItem, type SegmentHashItem, toCaptureItem } from "./schema.ts";

// Plain maps with text keys and plain byte strings, no tags: what any CBOR
// decoder reads (cbor-x's records and typed-array tags are private to it).
const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  sequential: false,
  structuredClone: false,
});

// cbor-x writes a number outside the 32-bit range as a float, which the
// format forbids and the reader refuses (a count past 4294967295 calls): as a
// bigint it gets the 8-byte integer head, which is its shortest form.
function exactIntegers(v: unknown): unknown {
  if (typeof v === "number") return Number.isInteger(v) && (v > 0xffffffff || v < -0x100000000) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(exactIntegers);
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = exactIntegers(x);
  return out;
}

/**
 * The CBOR encoding of one item, after the same checks the reader applies:
 * what the writer uses for the header (segment items go through encode.ts,
 * which is tested against this).
 */
export function encodeItem(item: CaptureItem): Uint8Array {
  const checked = toCaptureItem(item);
  if (!checked) throw new InvalidItemError(`unknown item type ${JSON.stringify(item.type)}`);
  return encoder.encode(exactIntegers(checked));
}

/** The CBOR bytes of a segment or seal info map, after its schema check. */
export function encodeMetaInfo(info: SegmentInfo | SealInfo): Uint8Array {
  const checked = info.type === "segment" ? ITEMS.segmentInfo.check(info, "") : ITEMS.sealInfo.check(info, "");
  return encoder.encode(exactIntegers(checked));
}

/**
 * The CBOR bytes of a trailer's second item as a writer of `version` puts
 * them: what the writer writes, and what a verifier compares the file's
 * bytes with, so that no byte of a trailer goes uncovered.
 */
export function encodeSegmentHash(item: SegmentHashItem, version: number): Uint8Array {
  const { hash, next_key, signature } = ITEMS.segmentHash.check(version === 1 ? { hash: item.hash } : item, "");
  return encoder.encode(version === 1 ? { hash } : { hash, next_key, signature });
}

/** The same for the seal's second item. */
export function encodeSealHash(item: SealHashItem, version: number): Uint8Array {
  const { hash, signature, next_file_key } = ITEMS.sealHash.check(version === 1 ? { hash: item.hash, signature: item.signature } : item, "");
  return encoder.encode(version === 1 ? { hash, signature } : { hash, signature, next_file_key });
}
