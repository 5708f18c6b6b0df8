// Reading a capture's frames, for the walk (walk.ts): a file or standard
// input opened safely, read sequentially through a bounded window (so pipes
// work and memory is bounded by one frame), each frame located from the zstd
// frame structure before anything is decompressed (node:zlib accepts a
// truncated frame), and decompressed within limits. Nothing here is
// Bun-only: Deno runs it too.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { InputError, UsageError } from "../errors.ts";
import { ZstdLimitError, zstdDecompress } from "../runtime.ts";
import { MAX_CONTENT_BYTES, MAX_FRAME_BYTES, MAX_META_BYTES } from "./limits.ts";
import { DMREC_META_MAGIC, parseFrame, u32le } from "./zstd_frames.ts";

const READ_CHUNK = 1024 * 1024;
/** How a capture on standard input is named, on the command line and in messages. */
export const STDIN = "-";

export interface ScanLimits {
  maxFrameBytes: number;
  maxContentBytes: number;
  maxMetaBytes: number;
}

export function scanLimits(opts: { maxFrameBytes?: number; maxContentBytes?: number }): ScanLimits {
  return {
    maxFrameBytes: opts.maxFrameBytes ?? MAX_FRAME_BYTES,
    maxContentBytes: opts.maxContentBytes ?? MAX_CONTENT_BYTES,
    maxMetaBytes: MAX_META_BYTES,
  };
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

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
  /** the file's size when it is a regular file, known before reading */
  readonly size: number | null;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly maxCapacity: number,
  ) {
    let size: number | null = null;
    try {
      const st = fstatSync(fd);
      if (st.isFile()) size = st.size;
    } catch {
      // Unknown size: a pipe, say.
    }
    this.size = size;
    // A small file gets a small buffer: allocating a whole chunk would cost more than reading it.
    this.buf = new Uint8Array(size === null ? READ_CHUNK : Math.min(READ_CHUNK, Math.max(4096, size + 1)));
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
      const got = this.read();
      if (got === 0) this.eof = true;
      this.hi += got;
    }
    return this.hi - this.lo >= n;
  }

  private read(): number {
    for (;;) {
      try {
        return readSync(this.fd, this.buf, this.hi, this.buf.length - this.hi, null);
      } catch (e) {
        // A non-blocking pipe (a parent's) that is empty for now: wait, then retry.
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") Atomics.wait(pause, 0, 0, 1);
        else throw new InputError(this.path, `reading at byte ${this.offset + this.hi - this.lo}: ${errorText(e)}`);
      }
    }
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

  /** The file's size: known for a regular file, else read through to the end (a pipe). */
  totalSize(): number {
    if (this.size !== null) return this.size;
    while (this.skip(this.hi - this.lo + READ_CHUNK));
    return this.offset;
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

/**
 * The captures a command was given, before any is opened: at least one, and
 * standard input at most once (it can be read only once). UsageError else.
 */
export function checkInputs(files: readonly string[]): void {
  if (files.length === 0) throw new UsageError(`no capture given (name one, or ${STDIN} for standard input)`);
  if (files.filter((f) => f === STDIN).length > 1) throw new UsageError(`${STDIN} (standard input) given more than once`);
}

/** An open capture: its descriptor, and whether closing it is ours to do (not standard input's). */
export interface Input {
  fd: number;
  owned: boolean;
}

/**
 * Opens a capture for reading: InputError for a missing file, a directory,
 * no permission. STDIN is standard input, read where it is a pipe, a socket
 * or a file; a terminal, or none, is a UsageError (nothing is waited for).
 */
export function openInput(path: string): Input {
  if (path === STDIN) {
    let ok = false;
    try {
      const st = fstatSync(0);
      ok = st.isFIFO() || st.isFile() || st.isSocket();
    } catch {
      // Closed: refused below.
    }
    if (!ok) throw new UsageError(`${STDIN}: standard input is not a pipe or a file; give a capture there (dmrec ... - < capture.cbor.zst) or name the file`);
    return { fd: 0, owned: false };
  }
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
  return { fd, owned: true };
}

/** What the scanner finds at each place in the file. Offsets are file offsets. */
export type ScannedFrame =
  | {
      kind: "standard";
      offset: number;
      length: number;
      contentSize: bigint | null;
      /** the whole frame; a view valid until the scanner moves on */
      bytes: Uint8Array;
      /** the dmrec skippable frame right after this one, if complete (yielded again on its own next) */
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
  /** the payload; a view valid until the scanner moves on */
  payload: Uint8Array;
}

/**
 * The frames of the file behind a window, in order. It stops after a
 * truncated, invalid or oversized frame: past it, where the next frame would
 * start is unknown. A standard frame comes with the dmrec skippable frame
 * that follows it (a segment's trailer), so that a caller can read the
 * trailer before deciding to decompress the segment; that frame is returned
 * again on its own next. Memory: one standard frame plus one meta payload.
 */
export class FrameScanner {
  /** bytes of the frame last returned, still in the window */
  private held = 0;
  private ended = false;

  constructor(
    private readonly win: FileWindow,
    private readonly limits: ScanLimits,
  ) {}

  /** The next frame, or null at the end of the file (or after a frame that ends the scan). */
  next(): ScannedFrame | null {
    this.win.consume(this.held);
    this.held = 0;
    if (this.ended) return null;
    const f = this.scan();
    if (f === null || f.kind === "truncated" || f.kind === "invalid" || f.kind === "oversized") this.ended = true;
    return f;
  }

  private scan(): ScannedFrame | null {
    const win = this.win;
    const { maxFrameBytes: maxFrame, maxMetaBytes: maxMeta } = this.limits;
    for (;;) {
      if (!win.fill(1)) return null;
      const frame = parseFrame(win.bytes, 0, win.offset);
      if (frame.kind === "truncated") {
        if (frame.frame === "skippable" && frame.needed > 8) {
          // Its header is complete, so its size is known.
          const magic = u32le(win.bytes, 0);
          if (magic === DMREC_META_MAGIC && frame.needed - 8 <= maxMeta) {
            if (win.fill(frame.needed)) continue;
            return { kind: "truncated", offset: frame.offset, frame: "skippable", magic };
          }
          // Read through it instead of buffering it.
          if (!win.skip(frame.needed)) return { kind: "truncated", offset: frame.offset, frame: "skippable", magic };
          return { kind: "skippable", offset: frame.offset, length: frame.needed, magic };
        }
        if (frame.frame === "standard" && frame.needed > maxFrame) return { kind: "oversized", offset: frame.offset, limit: maxFrame };
        if (win.fill(frame.needed, 2 * win.bytes.length)) continue;
        const magic = frame.frame === "skippable" && win.bytes.length >= 4 ? u32le(win.bytes, 0) : null;
        return { kind: "truncated", offset: frame.offset, frame: frame.frame, magic };
      }
      if (frame.kind === "invalid") return frame;
      if (frame.kind === "skippable") {
        this.held = frame.length;
        if (frame.magic === DMREC_META_MAGIC && frame.length - 8 <= maxMeta) {
          return { kind: "meta", offset: frame.offset, length: frame.length, payload: win.bytes.subarray(8, frame.length) };
        }
        return { kind: "skippable", offset: frame.offset, length: frame.length, magic: frame.magic };
      }
      // Only possible with a limit below the read chunk size.
      if (frame.length > maxFrame) return { kind: "oversized", offset: frame.offset, limit: maxFrame };
      const next = peekMeta(win, frame.length, maxMeta);
      this.held = frame.length;
      // Taken after the look-ahead, which may have moved the window's buffer.
      const bytes = win.bytes.subarray(0, frame.length);
      return { kind: "standard", offset: frame.offset, length: frame.length, contentSize: frame.contentSize, bytes, next };
    }
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

/** Why a frame's content could not be had: over the limit, or zstd refused it. */
export interface DecompressFailure {
  stage: "limit" | "zstd";
  text: string;
}

/** Decompresses one complete standard frame within the content limit; a failure says why. */
export function decompressFrame(
  frame: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { content: Uint8Array; failure?: undefined } | { content?: undefined; failure: DecompressFailure } {
  // A declared size is checked first: a bomb is refused without inflating.
  if (contentSize !== null && contentSize > BigInt(maxContent)) {
    return { failure: { stage: "limit", text: `declares ${contentSize} bytes of content, over the ${maxContent}-byte limit` } };
  }
  let content: Uint8Array;
  try {
    content = zstdDecompress(frame, maxContent, contentSize === null ? undefined : Number(contentSize));
  } catch (e) {
    if (e instanceof ZstdLimitError) return { failure: { stage: "limit", text: `content exceeds the ${maxContent}-byte limit` } };
    return { failure: { stage: "zstd", text: errorText(e) } };
  }
  if (contentSize !== null && BigInt(content.length) !== contentSize) {
    return { failure: { stage: "zstd", text: `${content.length} bytes of content, ${contentSize} declared` } };
  }
  return { content };
}
