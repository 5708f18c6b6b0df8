// Reading a capture's frames, for the reader, verify and info alike: a file
// opened safely, read sequentially through a bounded window (so pipes work
// and memory is bounded by one frame), each frame located from the zstd frame
// structure before anything is decompressed (node:zlib accepts a truncated
// frame), and decompressed and decoded within limits. Nothing here is
// Bun-only: Deno runs it too.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { InputError } from "../errors.ts";
import { ZstdLimitError, zstdDecompress } from "../runtime.ts";
import { decodeSequence } from "./codec.ts";
import { DMREC_META_MAGIC, parseFrame, u32le } from "./zstd_frames.ts";

/** Largest zstd frame accepted, compressed. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Largest content of one frame accepted, decompressed. */
export const MAX_CONTENT_BYTES = 64 * 1024 * 1024;
/** Largest payload of a dmrec skippable frame (trailer, seal) that is decoded. */
export const MAX_META_BYTES = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

export interface ScanLimits {
  maxFrameBytes: number;
  maxContentBytes: number;
  maxMetaBytes: number;
}

/** The limits and the read window every reader of a capture starts with. */
export function scanWindow(
  fd: number,
  path: string,
  opts: { maxFrameBytes?: number; maxContentBytes?: number },
): { limits: ScanLimits; win: FileWindow } {
  const limits = {
    maxFrameBytes: opts.maxFrameBytes ?? MAX_FRAME_BYTES,
    maxContentBytes: opts.maxContentBytes ?? MAX_CONTENT_BYTES,
    maxMetaBytes: MAX_META_BYTES,
  };
  return { limits, win: new FileWindow(fd, path, limits.maxFrameBytes + 8 + limits.maxMetaBytes) };
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A sliding window over a file read sequentially: the bytes from `offset` on
 * that have been read and not yet consumed.
 */
export class FileWindow {
  private buf: Uint8Array;
  private lo = 0;
  private hi = 0;
  private eof = false;
  /** file offset of the first unconsumed byte */
  offset = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly maxCapacity: number,
  ) {
    // A small file gets a small buffer: allocating a whole chunk would cost more than reading it.
    let size = READ_CHUNK;
    try {
      const st = fstatSync(fd);
      if (st.isFile()) size = Math.min(READ_CHUNK, Math.max(4096, st.size + 1));
    } catch {
      // Unknown size: a pipe, say.
    }
    this.buf = new Uint8Array(size);
  }

  /** The buffered bytes. A view: valid until the next fill() or skip(). */
  get bytes(): Uint8Array {
    return this.buf.subarray(this.lo, this.hi);
  }

  get atEof(): boolean {
    return this.eof && this.hi === this.lo;
  }

  /**
   * Makes at least n bytes available unless the file ends first, and says
   * whether it did. It reads on towards `want` (at most maxCapacity) while
   * the file gives more, so that a caller growing its request step by step
   * re-examines the window a logarithmic number of times, not once per step.
   */
  fill(n: number, want: number = n): boolean {
    want = Math.max(n, Math.min(want, this.maxCapacity));
    while (this.hi - this.lo < want && !this.eof) {
      if (this.buf.length - this.lo < want || this.hi === this.buf.length) this.makeRoom(want);
      let got: number;
      try {
        got = readSync(this.fd, this.buf, this.hi, this.buf.length - this.hi, null);
      } catch (e) {
        throw new InputError(this.path, `reading at byte ${this.offset + this.hi - this.lo}: ${errorText(e)}`);
      }
      if (got === 0) this.eof = true;
      this.hi += got;
    }
    return this.hi - this.lo >= n;
  }

  consume(n: number): void {
    this.lo += n;
    this.offset += n;
  }

  /** Consumes n bytes, reading through those not buffered; false if the file ends first. */
  skip(n: number): boolean {
    for (;;) {
      const step = Math.min(n, this.hi - this.lo);
      this.consume(step);
      n -= step;
      if (n === 0) return true;
      this.lo = this.hi = 0;
      if (!this.fill(1)) return false;
    }
  }

  // Growth doubles so that a frame assembled block by block costs linear
  // copying, and stops at the largest frame the caller accepts.
  private makeRoom(n: number): void {
    const live = this.hi - this.lo;
    if (n <= this.buf.length) {
      this.buf.copyWithin(0, this.lo, this.hi);
    } else {
      const bigger = new Uint8Array(Math.max(n, Math.min(this.buf.length * 2, this.maxCapacity)));
      bigger.set(this.buf.subarray(this.lo, this.hi));
      this.buf = bigger;
    }
    this.lo = 0;
    this.hi = live;
  }
}

/** Opens a capture for reading; InputError for a missing file, a directory, no permission. */
export function openInput(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(path, "no such file");
    if (code === "EACCES" || code === "EPERM") throw new InputError(path, "permission denied");
    if (code === "EISDIR") throw new InputError(path, "is a directory, not a capture");
    throw new InputError(path, errorText(e));
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new InputError(path, "is a directory, not a capture");
  }
  return fd;
}

/** What the scanner finds at each place in the file. Offsets are file offsets. */
export type ScannedFrame =
  | {
      kind: "standard";
      offset: number;
      length: number;
      contentSize: bigint | null;
      /** the whole frame; a view valid until the scan resumes */
      bytes: Uint8Array;
      /** with lookahead: the dmrec skippable frame right after this one, if complete */
      next: MetaFrame | null;
    }
  | MetaFrame
  | {
      /** a skippable frame with another magic, or a dmrec one over the meta limit: read through, not buffered */
      kind: "skippable";
      offset: number;
      length: number;
      magic: number;
    }
  | {
      /** the file ends inside this frame */
      kind: "truncated";
      offset: number;
      frame: "standard" | "skippable";
      /** for a skippable frame, its magic when the file holds all 4 bytes of it */
      magic: number | null;
    }
  | { kind: "invalid"; offset: number; problem: string; notZstd: boolean }
  | { kind: "oversized"; offset: number; limit: number };

/** A skippable frame with DMREC_META_MAGIC, buffered. */
export interface MetaFrame {
  kind: "meta";
  offset: number;
  length: number;
  /** the payload; a view valid until the scan resumes */
  payload: Uint8Array;
}

/**
 * The frames of the file behind `win`, in order. It stops after a
 * truncated, invalid or oversized frame: past it, where the next frame would
 * start is unknown. With `lookahead`, a standard frame comes with the dmrec
 * skippable frame that follows it (a segment's trailer), so that a caller can
 * read the trailer before deciding to decompress the segment; that frame is
 * yielded again on its own next. Memory: one standard frame plus one meta
 * payload.
 */
export function* scanFrames(win: FileWindow, limits: ScanLimits, lookahead: boolean): Generator<ScannedFrame, void, undefined> {
  const { maxFrameBytes: maxFrame, maxMetaBytes: maxMeta } = limits;
  for (;;) {
    if (!win.fill(1)) return;
    const frame = parseFrame(win.bytes, 0, win.offset);
    if (frame.kind === "truncated") {
      if (frame.frame === "skippable" && frame.needed > 8) {
        // Its header is complete, so its size is known.
        const magic = u32le(win.bytes, 0);
        if (magic === DMREC_META_MAGIC && frame.needed - 8 <= maxMeta) {
          if (win.fill(frame.needed)) continue;
          yield { kind: "truncated", offset: frame.offset, frame: "skippable", magic };
          return;
        }
        // Read through it instead of buffering it.
        if (!win.skip(frame.needed)) {
          yield { kind: "truncated", offset: frame.offset, frame: "skippable", magic };
          return;
        }
        yield { kind: "skippable", offset: frame.offset, length: frame.needed, magic };
        continue;
      }
      if (frame.frame === "standard" && frame.needed > maxFrame) {
        yield { kind: "oversized", offset: frame.offset, limit: maxFrame };
        return;
      }
      if (win.fill(frame.needed, 2 * win.bytes.length)) continue;
      const magic = frame.frame === "skippable" && win.bytes.length >= 4 ? u32le(win.bytes, 0) : null;
      yield { kind: "truncated", offset: frame.offset, frame: frame.frame, magic };
      return;
    }
    if (frame.kind === "invalid") {
      yield frame;
      return;
    }
    if (frame.kind === "skippable") {
      if (frame.magic === DMREC_META_MAGIC && frame.length - 8 <= maxMeta) {
        const payload = win.bytes.subarray(8, frame.length);
        yield { kind: "meta", offset: frame.offset, length: frame.length, payload };
      } else {
        yield { kind: "skippable", offset: frame.offset, length: frame.length, magic: frame.magic };
      }
      win.consume(frame.length);
      continue;
    }
    if (frame.length > maxFrame) {
      // Only possible with a limit below the read chunk size.
      yield { kind: "oversized", offset: frame.offset, limit: maxFrame };
      return;
    }
    let next: MetaFrame | null = null;
    if (lookahead) next = peekMeta(win, frame.length, maxMeta);
    // Taken after the look-ahead, which may have moved the window's buffer.
    const bytes = win.bytes.subarray(0, frame.length);
    yield { kind: "standard", offset: frame.offset, length: frame.length, contentSize: frame.contentSize, bytes, next };
    win.consume(frame.length);
  }
}

/** The complete dmrec skippable frame at window position `at`, if there is one. */
function peekMeta(win: FileWindow, at: number, maxMeta: number): MetaFrame | null {
  if (!win.fill(at + 8)) return null;
  if (u32le(win.bytes, at) !== DMREC_META_MAGIC) return null;
  const size = u32le(win.bytes, at + 4);
  if (size > maxMeta || !win.fill(at + 8 + size)) return null;
  const payload = win.bytes.subarray(at + 8, at + 8 + size);
  return { kind: "meta", offset: win.offset + at, length: 8 + size, payload };
}

export interface FrameFailure {
  stage: "limit" | "zstd" | "cbor";
  text: string;
}

/** Decompresses one complete standard frame within the content limit; a failure says why. */
export function decompressFrame(
  frame: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { content: Uint8Array; failure?: undefined } | { content?: undefined; failure: FrameFailure } {
  // A declared size is checked first: a bomb is refused without inflating.
  if (contentSize !== null && contentSize > BigInt(maxContent)) {
    const text = `declares ${contentSize} bytes of content, over the ${maxContent}-byte limit`;
    return { failure: { stage: "limit", text } };
  }
  let content: Uint8Array;
  try {
    content = zstdDecompress(frame, maxContent);
  } catch (e) {
    if (e instanceof ZstdLimitError) {
      return { failure: { stage: "limit", text: `content exceeds the ${maxContent}-byte limit` } };
    }
    return { failure: { stage: "zstd", text: errorText(e) } };
  }
  if (contentSize !== null && BigInt(content.length) !== contentSize) {
    return { failure: { stage: "zstd", text: `${content.length} bytes of content, ${contentSize} declared` } };
  }
  return { content };
}

/**
 * Decompresses one complete standard frame and decodes its CBOR sequence.
 * On failure, `values` holds what decoded before it.
 */
export function decodeFrame(
  frame: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { values: unknown[]; failure?: FrameFailure } {
  const d = decompressFrame(frame, contentSize, maxContent);
  if (d.failure) return { values: [], failure: d.failure };
  const values: unknown[] = [];
  // An empty frame holds no items (cbor-x calls empty input truncated).
  if (d.content.length === 0) return { values };
  try {
    decodeSequence(d.content, (v) => values.push(v));
  } catch (e) {
    const text = e instanceof RangeError ? `nested too deeply (${errorText(e)})` : errorText(e);
    return { values, failure: { stage: "cbor", text } };
  }
  return { values };
}

/** "corrupt segment (zstd: ...)", "segment content exceeds ..." */
export function describeFailure(what: string, f: FrameFailure): string {
  return f.stage === "limit" ? `${what} ${f.text}` : `corrupt ${what} (${f.stage === "zstd" ? "zstd" : "CBOR"}: ${f.text})`;
}
