// Writes a capture (docs/FORMAT.md): the header in a zstd frame of its own,
// then events and loss records in segments, each one zstd frame holding a
// CBOR sequence, written and fsync'd as it closes so that a crash loses at
// most the open segment.
import {
  closeSync,
  constants,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { OutputError } from "../errors.ts";
import type { CaptureHeader, DmrecEvent, LossRecord } from "../event.ts";
import { zstdCompress } from "../runtime.ts";
import { encodeItem } from "./codec.ts";

export interface WriterOptions {
  /** replace an existing regular file (never a symlink or anything else) */
  force?: boolean;
  /** close a segment after this many items (default 1000) */
  segmentEvents?: number;
  /** close a segment this long after its first item, checked by tick() (default 1000) */
  segmentMs?: number;
}

export interface WriterStats {
  /** event items written to disk */
  events: number;
  /** loss records written to disk */
  losses: number;
  /** segments written, not counting the header frame */
  segments: number;
  /** bytes in the file */
  bytes: number;
}

export const DEFAULT_SEGMENT_EVENTS = 1000;
export const DEFAULT_SEGMENT_MS = 1000;
/**
 * A segment is closed before its CBOR reaches this size, whatever the item
 * count, so that every reader (src/capture/reader.ts allows 64 MiB) can
 * decompress it in one piece.
 */
export const MAX_SEGMENT_CONTENT = 16 * 1024 * 1024;

/** strerror-like text for the errors a user can do something about. */
function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "ENOENT":
      return "no such directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOSPC":
      return "No space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "EIO":
      return "input/output error";
    default:
      return err.message ?? String(e);
  }
}

/**
 * Creates `path` 0600 for writing and returns its descriptor. It never
 * follows a symlink at `path` and never replaces an existing file unless
 * `force`, and then only a regular file, by unlinking it and creating anew:
 * opening it with O_TRUNC would write through a hard link planted in a
 * shared directory, and keep the old file's mode.
 */
export function openNewFile(path: string, opts: { force: boolean }): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(path, flags, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new OutputError(path, describeFsError(e));
    }
    let st;
    try {
      st = lstatSync(path);
    } catch (e) {
      // Gone between open and lstat: try to create it again.
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && attempt < 3) continue;
      throw new OutputError(path, describeFsError(e));
    }
    if (st.isSymbolicLink()) throw new OutputError(path, "is a symbolic link, refusing to follow it");
    if (!opts.force) throw new OutputError(path, "exists (use --force to overwrite)");
    if (!st.isFile()) throw new OutputError(path, "exists and is not a regular file, refusing to replace it");
    if (attempt >= 3) throw new OutputError(path, "keeps being re-created by someone else");
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new OutputError(path, describeFsError(e));
    }
  }
}

/** Makes the new file's directory entry durable, not only its contents. */
function fsyncDirectory(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch (e) {
    // Some file systems cannot fsync a directory; the data itself is synced.
    if (!["EINVAL", "ENOTSUP", "EOPNOTSUPP"].includes((e as NodeJS.ErrnoException).code ?? "")) {
      throw new OutputError(path, `syncing its directory: ${describeFsError(e)}`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A growable byte buffer holding the open segment's CBOR sequence. */
class ByteBuffer {
  private buf = new Uint8Array(64 * 1024);
  length = 0;

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + bytes.length));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  contents(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  clear(): void {
    this.length = 0;
  }
}

export class CaptureWriter {
  private fd: number | undefined;
  /** why the writer stopped accepting items, after a failed write */
  private failure: OutputError | undefined;
  private readonly segment = new ByteBuffer();
  private segmentEventCount = 0;
  private segmentLossCount = 0;
  private segmentOpenedMs: number | undefined;
  private readonly counters: WriterStats = { events: 0, losses: 0, segments: 0, bytes: 0 };

  private constructor(
    readonly path: string,
    fd: number,
    private readonly segmentEvents: number,
    private readonly segmentMs: number,
  ) {
    this.fd = fd;
  }

  /**
   * Creates the capture (see openNewFile) and writes its header frame.
   * Throws OutputError when the file cannot be created or written.
   */
  static create(path: string, header: CaptureHeader, opts: WriterOptions = {}): CaptureWriter {
    const segmentEvents = opts.segmentEvents ?? DEFAULT_SEGMENT_EVENTS;
    const segmentMs = opts.segmentMs ?? DEFAULT_SEGMENT_MS;
    if (!Number.isSafeInteger(segmentEvents) || segmentEvents < 1) {
      throw new RangeError(`segmentEvents must be a positive integer, got ${segmentEvents}`);
    }
    if (!(segmentMs > 0)) throw new RangeError(`segmentMs must be positive, got ${segmentMs}`);
    // Encode before creating the file so that a bad header leaves nothing behind.
    const headerFrame = zstdCompress(encodeItem(header));
    const fd = openNewFile(path, { force: opts.force ?? false });
    const writer = new CaptureWriter(path, fd, segmentEvents, segmentMs);
    try {
      writer.writeFrame(headerFrame, "writing the header");
      fsyncDirectory(path);
    } catch (e) {
      writer.abandon();
      // Nothing useful is in it; it was created by this call, so it is ours.
      try {
        unlinkSync(path);
      } catch {
        // Left behind empty or partial: readers call it an empty or truncated file.
      }
      throw e;
    }
    return writer;
  }

  get stats(): Readonly<WriterStats> {
    return { ...this.counters };
  }

  /**
   * Appends an item to the open segment, closing the segment when it is
   * full. Throws OutputError if closing it fails, and on every call after.
   */
  write(item: DmrecEvent | LossRecord): void {
    this.usable();
    const bytes = encodeItem(item);
    if (this.segment.length > 0 && this.segment.length + bytes.length > MAX_SEGMENT_CONTENT) {
      this.flush();
    }
    this.segment.append(bytes);
    if (item.type === "event") this.segmentEventCount++;
    else this.segmentLossCount++;
    this.segmentOpenedMs ??= Date.now();
    if (this.segmentEventCount + this.segmentLossCount >= this.segmentEvents) this.flush();
  }

  /**
   * Writes the open segment if its first item is segmentMs old by `nowMs`
   * (a Date.now() value). A clock that stepped back also writes it, so a
   * clock change cannot hold events in memory. Returns whether it wrote.
   */
  tick(nowMs: number = Date.now()): boolean {
    this.usable();
    const opened = this.segmentOpenedMs;
    if (opened === undefined || (nowMs - opened < this.segmentMs && nowMs >= opened)) return false;
    this.flush();
    return true;
  }

  /** Writes the open segment now, if it has any items. */
  flush(): void {
    this.usable();
    if (this.segment.length === 0) return;
    const items = this.segmentEventCount + this.segmentLossCount;
    this.writeFrame(
      zstdCompress(this.segment.contents()),
      `writing segment ${this.counters.segments + 1}, whose ${items} items are not in the file`,
    );
    this.counters.segments++;
    this.counters.events += this.segmentEventCount;
    this.counters.losses += this.segmentLossCount;
    this.segment.clear();
    this.segmentEventCount = 0;
    this.segmentLossCount = 0;
    this.segmentOpenedMs = undefined;
  }

  /** Writes the open segment and closes the file. Calling it again does nothing. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    try {
      this.flush();
    } finally {
      this.fd = undefined;
      try {
        closeSync(fd);
      } catch (e) {
        // A flush error, if any, is the one propagating.
        if (!this.failure) throw new OutputError(this.path, `closing: ${describeFsError(e)}`);
      }
    }
  }

  /**
   * For error paths: closes the file without throwing, after trying to write
   * the open segment (its items are lost if that fails too). Segments
   * already written stay readable. Does nothing after close().
   */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      if (!this.failure) this.flush();
    } catch {
      // The error that sent the caller here is the one to report.
    }
    try {
      closeSync(this.fd);
    } catch {
      // Same: nothing more can be done for this file.
    }
    this.fd = undefined;
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.fd === undefined) throw new OutputError(this.path, "capture already closed");
  }

  /**
   * Appends one frame and fsyncs it. On failure the file is cut back to its
   * last complete frame, so that a full disk leaves a capture that ends
   * cleanly rather than a torn segment, and the writer refuses further items.
   */
  private writeFrame(frame: Uint8Array, what: string): void {
    const fd = this.fd!;
    const start = this.counters.bytes;
    try {
      for (let off = 0; off < frame.length; ) off += writeSync(fd, frame, off, frame.length - off, start + off);
      fsyncSync(fd);
    } catch (e) {
      try {
        ftruncateSync(fd, start);
        fsyncSync(fd);
      } catch {
        // The torn tail stays; a reader reports it as a truncated segment.
      }
      this.failure = new OutputError(this.path, `${describeFsError(e)} (${what})`);
      throw this.failure;
    }
    this.counters.bytes += frame.length;
  }
}
