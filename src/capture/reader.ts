// Reads a capture (docs/FORMAT.md) as a stream of checked items. It trusts
// nothing in the file: memory is bounded by one frame, every frame boundary
// is checked before decompressing (node:zlib accepts a truncated frame), and
// every item is type-checked before it is handed on.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { DamagedInputError, InputError } from "../errors.ts";
import type { CaptureItem } from "../event.ts";
import { ZstdLimitError, zstdDecompress } from "../runtime.ts";
import { decodeSequence, FORMAT_VERSION, headerIdentity, InvalidItemError, toCaptureItem } from "./codec.ts";
import { parseFrame } from "./zstd_frames.ts";

export interface ReadOptions {
  /** largest zstd frame accepted, compressed (default MAX_FRAME_BYTES) */
  maxFrameBytes?: number;
  /** largest content of one frame accepted, decompressed (default MAX_CONTENT_BYTES) */
  maxContentBytes?: number;
}

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const MAX_CONTENT_BYTES = 64 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A sliding window over a file read sequentially (so pipes work too): the
 * bytes from `offset` on that have been read and not yet consumed.
 */
class FileWindow {
  private buf = new Uint8Array(READ_CHUNK);
  private lo = 0;
  private hi = 0;
  private eof = false;
  /** file offset of the first unconsumed byte */
  offset = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly maxCapacity: number,
  ) {}

  get bytes(): Uint8Array {
    return this.buf.subarray(this.lo, this.hi);
  }

  /** Makes at least n bytes available unless the file ends first; says whether it did. */
  fill(n: number): boolean {
    while (this.hi - this.lo < n && !this.eof) {
      if (this.buf.length - this.lo < n || this.hi === this.buf.length) this.makeRoom(n);
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

function openInput(path: string): number {
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

interface Damage {
  offset: number;
  problem: string;
}

/**
 * The items of a capture, header first, in file order. Opening problems and
 * a file that is not a capture (or of another major version) throw
 * InputError before any item. Damage after the header does not stop the
 * items: a segment that fails to decompress, decode or check is skipped and
 * reading goes on with the next frame, while a truncated or unparseable
 * frame ends the file. Once every intact item has been yielded, the first
 * damage is thrown as DamagedInputError naming its byte offset.
 */
export function* readCapture(path: string, opts: ReadOptions = {}): Generator<CaptureItem, void, undefined> {
  const maxFrame = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
  const maxContent = opts.maxContentBytes ?? MAX_CONTENT_BYTES;
  const fd = openInput(path);
  try {
    const win = new FileWindow(fd, path, maxFrame);
    if (!win.fill(1)) throw new InputError(path, "empty file, not a capture");
    const damage: Damage[] = [];
    let sawHeader = false;
    // Until the header is seen, failures mean "not a capture" or "damaged
    // where nothing is readable": both are reported at once.
    const fatal: (offset: number, problem: string, notCapture: boolean) => never = (offset, problem, notCapture) => {
      throw notCapture ? new InputError(path, `not a dmrec capture (${problem})`) : new DamagedInputError(path, offset, problem);
    };

    for (;;) {
      if (!win.fill(1)) break;
      const frame = parseFrame(win.bytes, 0, win.offset);
      if (frame.kind === "truncated") {
        if (frame.frame === "skippable" && frame.needed > 8) {
          // Its length is known: read through it instead of buffering it.
          if (win.skip(frame.needed)) continue;
          damage.push({ offset: frame.offset, problem: "truncated skippable frame" });
          break;
        }
        if (frame.needed <= maxFrame && win.fill(frame.needed)) continue;
        if (frame.needed > maxFrame) {
          damage.push({ offset: frame.offset, problem: `segment larger than the ${maxFrame}-byte frame limit` });
          break;
        }
        damage.push({ offset: frame.offset, problem: sawHeader ? "truncated segment" : "truncated header frame" });
        break;
      }
      if (frame.kind === "invalid") {
        if (!sawHeader) fatal(frame.offset, frame.problem, frame.problem.startsWith("not a zstd frame"));
        damage.push(frame);
        break;
      }
      if (frame.kind === "skippable") {
        win.consume(frame.length);
        continue;
      }
      if (frame.length > maxFrame) {
        // Only possible with a limit below the read chunk size.
        damage.push({ offset: frame.offset, problem: `segment larger than the ${maxFrame}-byte frame limit` });
        break;
      }

      const { values, failure } = decodeFrame(win.bytes.subarray(0, frame.length), frame.contentSize, maxContent);
      win.consume(frame.length);
      const problem = failure && describeFailure(sawHeader ? "segment" : "header frame", failure);
      if (!sawHeader) {
        // Intact zstd holding something that is not CBOR is another kind of file.
        if (problem && values.length === 0) {
          const notCbor = failure.stage === "cbor";
          fatal(frame.offset, notCbor ? `not CBOR: ${failure.text}` : problem, notCbor);
        }
        const identity = headerIdentity(values[0]);
        if (!identity) fatal(frame.offset, "its first item is not a dmrec header", true);
        if (identity.version !== FORMAT_VERSION) {
          throw new InputError(
            path,
            `capture format version ${String(identity.version)} is not supported (this dmrec reads version ${FORMAT_VERSION})`,
          );
        }
      }
      let index = 0;
      for (; index < values.length; index++) {
        let item: CaptureItem | null;
        try {
          item = toCaptureItem(values[index]);
        } catch (e) {
          if (!(e instanceof InvalidItemError)) throw e;
          const where = sawHeader ? `invalid item ${index + 1} in segment` : "invalid header";
          if (!sawHeader) fatal(frame.offset, `${where}: ${e.message}`, false);
          damage.push({ offset: frame.offset, problem: `${where}: ${e.message}` });
          break;
        }
        sawHeader = true;
        if (item) yield item;
      }
      // One damage per frame: a bad item already reported it.
      if (problem && index === values.length) damage.push({ offset: frame.offset, problem });
    }

    if (!sawHeader && damage.length === 0) throw new InputError(path, "not a dmrec capture (no zstd data frame)");
    const [first] = damage;
    if (first) {
      const more = damage.length > 1 ? ` (the first of ${damage.length} damaged places)` : "";
      throw new DamagedInputError(path, first.offset, first.problem + more);
    }
  } finally {
    closeSync(fd);
  }
}

interface FrameFailure {
  stage: "limit" | "zstd" | "cbor";
  text: string;
}

function describeFailure(what: "segment" | "header frame", f: FrameFailure): string {
  return f.stage === "limit" ? `${what} ${f.text}` : `corrupt ${what} (${f.stage === "zstd" ? "zstd" : "CBOR"}: ${f.text})`;
}

/**
 * Decompresses one complete standard frame and decodes its CBOR sequence.
 * On failure, `values` holds what decoded before it.
 */
function decodeFrame(
  frame: Uint8Array,
  contentSize: bigint | null,
  maxContent: number,
): { values: unknown[]; failure?: FrameFailure } {
  // A declared size is checked first: a bomb is refused without inflating.
  if (contentSize !== null && contentSize > BigInt(maxContent)) {
    const text = `declares ${contentSize} bytes of content, over the ${maxContent}-byte limit`;
    return { values: [], failure: { stage: "limit", text } };
  }
  let content: Uint8Array;
  try {
    content = zstdDecompress(frame, maxContent);
  } catch (e) {
    if (e instanceof ZstdLimitError) {
      return { values: [], failure: { stage: "limit", text: `content exceeds the ${maxContent}-byte limit` } };
    }
    return { values: [], failure: { stage: "zstd", text: errorText(e) } };
  }
  if (contentSize !== null && BigInt(content.length) !== contentSize) {
    const text = `${content.length} bytes of content, ${contentSize} declared`;
    return { values: [], failure: { stage: "zstd", text } };
  }
  const values: unknown[] = [];
  try {
    decodeSequence(content, (v) => values.push(v));
  } catch (e) {
    return { values, failure: { stage: "cbor", text: errorText(e) } };
  }
  return { values };
}
