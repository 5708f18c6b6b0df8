// Boundary parser for zstd frames (RFC 8878, section 3.1). It finds where each
// frame starts and ends without decompressing anything, because node:zlib
// (Bun and Deno) decompresses a truncated frame without an error: only the
// frame structure tells a complete segment from a cut one.

export const ZSTD_MAGIC = 0xfd2fb528;
export const SKIPPABLE_MAGIC_MIN = 0x184d2a50;
export const SKIPPABLE_MAGIC_MAX = 0x184d2a5f;
/**
 * The one skippable-frame magic dmrec writes: its payload is CBOR whose
 * first item is a map with a `type` ("segment": a segment trailer, "seal").
 */
export const DMREC_META_MAGIC = 0x184d2a5d;
/** Block_Maximum_Size can never exceed 128 KiB (RFC 8878, 3.1.1.2). */
const BLOCK_SIZE_MAX = 128 * 1024;
const BLOCK_TYPE_RLE = 1;
const BLOCK_TYPE_RESERVED = 3;

export type ZstdFrame =
  | {
      kind: "standard";
      offset: number;
      /** whole frame: magic, header, blocks, checksum */
      length: number;
      /** Frame_Content_Size when the header declares it */
      contentSize: bigint | null;
      hasChecksum: boolean;
    }
  | {
      kind: "skippable";
      offset: number;
      /** 8-byte header included */
      length: number;
      magic: number;
    }
  | {
      kind: "truncated";
      offset: number;
      frame: "standard" | "skippable";
      /** bytes from `offset` known so far to be needed; more may follow */
      needed: number;
    }
  /** `notZstd`: no zstd frame starts here at all (another kind of file), rather than a damaged one */
  | { kind: "invalid"; offset: number; problem: string; notZstd: boolean };

export function u32le(data: Uint8Array, pos: number): number {
  return (
    (data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16)) +
    data[pos + 3]! * 0x1000000
  );
}

function uintLE(data: Uint8Array, pos: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + i]!);
  return v;
}

/**
 * Parses the frame starting at data[pos]. Offsets in the result are
 * `base + pos`, so a caller holding a window of a file passes the window's
 * file offset as `base`.
 */
export function parseFrame(data: Uint8Array, pos: number, base = 0): ZstdFrame {
  const offset = base + pos;
  const avail = data.length - pos;
  if (avail < 4) {
    // A cut magic number is told apart from garbage by being a prefix of one.
    const head = data.subarray(pos);
    const isPrefix = (magic: number, mask: number) =>
      head.every((b, i) => (b & (mask >>> (8 * i))) === ((magic >>> (8 * i)) & 0xff));
    if (isPrefix(ZSTD_MAGIC, 0xffffffff)) return { kind: "truncated", offset, frame: "standard", needed: 4 };
    if (isPrefix(SKIPPABLE_MAGIC_MIN, 0xfffffff0)) return { kind: "truncated", offset, frame: "skippable", needed: 8 };
    return { kind: "invalid", offset, problem: "not a zstd frame (trailing bytes)", notZstd: true };
  }
  const magic = u32le(data, pos);
  if (magic >= SKIPPABLE_MAGIC_MIN && magic <= SKIPPABLE_MAGIC_MAX) {
    if (avail < 8) return { kind: "truncated", offset, frame: "skippable", needed: 8 };
    const length = 8 + u32le(data, pos + 4);
    return avail < length
      ? { kind: "truncated", offset, frame: "skippable", needed: length }
      : { kind: "skippable", offset, length, magic };
  }
  if (magic !== ZSTD_MAGIC) {
    return {
      kind: "invalid",
      offset,
      problem: `not a zstd frame (magic 0x${magic.toString(16).padStart(8, "0")})`,
      notZstd: true,
    };
  }
  return parseStandard(data, pos, offset);
}

function parseStandard(data: Uint8Array, pos: number, offset: number): ZstdFrame {
  const truncated = (needed: number): ZstdFrame => ({
    kind: "truncated",
    offset,
    frame: "standard",
    needed,
  });
  const avail = data.length - pos;
  if (avail < 5) return truncated(5);
  const fhd = data[pos + 4]!;
  if (fhd & 0x08) {
    return { kind: "invalid", offset, problem: "corrupt zstd frame header (reserved bit set)", notZstd: false };
  }
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const hasChecksum = ((fhd >> 2) & 1) === 1;
  const didSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = [singleSegment, 2, 4, 8][fcsFlag]!;
  const headerEnd = 5 + (singleSegment ? 0 : 1) + didSize + fcsSize;
  if (avail < headerEnd) return truncated(headerEnd);

  let contentSize: bigint | null = null;
  if (fcsSize > 0) {
    contentSize = uintLE(data, pos + headerEnd - fcsSize, fcsSize);
    if (fcsSize === 2) contentSize += 256n; // RFC 8878: the 2-byte field is offset by 256
  }

  let at = headerEnd;
  for (;;) {
    if (avail < at + 3) return truncated(at + 3);
    const bh = data[pos + at]! | (data[pos + at + 1]! << 8) | (data[pos + at + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === BLOCK_TYPE_RESERVED) {
      return { kind: "invalid", offset, problem: `corrupt zstd block at byte ${offset + at} (reserved type)`, notZstd: false };
    }
    if (size > BLOCK_SIZE_MAX) {
      return {
        kind: "invalid",
        offset,
        problem: `corrupt zstd block at byte ${offset + at} (size ${size} over 128 KiB)`,
        notZstd: false,
      };
    }
    // An RLE block stores one byte and repeats it `size` times.
    at += 3 + (type === BLOCK_TYPE_RLE ? 1 : size);
    if (last) break;
  }
  const length = at + (hasChecksum ? 4 : 0);
  if (avail < length) return truncated(length);
  return { kind: "standard", offset, length, contentSize, hasChecksum };
}

/**
 * Yields the frames of `data` in order. It stops after a "truncated" or
 * "invalid" frame: past either, where the next frame would start is unknown.
 */
export function* walkFrames(data: Uint8Array, base = 0): Generator<ZstdFrame, void, undefined> {
  let pos = 0;
  while (pos < data.length) {
    const frame = parseFrame(data, pos, base);
    yield frame;
    if (frame.kind === "truncated" || frame.kind === "invalid") return;
    pos += frame.length;
  }
}

/** A skippable frame: magic, 4-byte little-endian payload size, payload. */
export function skippableFrame(payload: Uint8Array, magic: number = DMREC_META_MAGIC): Uint8Array {
  if (magic < SKIPPABLE_MAGIC_MIN || magic > SKIPPABLE_MAGIC_MAX) throw new RangeError(`0x${magic.toString(16)} is not a skippable magic`);
  if (payload.length > 0xffffffff) throw new RangeError("skippable payload over 4 GiB");
  const frame = new Uint8Array(8 + payload.length);
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, magic, true);
  dv.setUint32(4, payload.length, true);
  frame.set(payload, 8);
  return frame;
}
