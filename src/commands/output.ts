// Output of commands to a file descriptor: buffered, patient with a full
// non-blocking pipe, and quiet when the reader goes away (`| head`).
import { closeSync, writeSync } from "node:fs";
import { OutputError } from "../errors.ts";
import { openNewFile } from "../files.ts";
import { collectGarbage } from "../runtime.ts";

const BUFFER_BYTES = 256 * 1024;
const pause = new Int32Array(new SharedArrayBuffer(4));
const MIN_WAIT_MS = 0.02;
const MAX_WAIT_MS = 2;
const HUGE_TEXT = 1 << 20;

export interface FdSink {
  write(chunk: string): void;
  /** bytes `at` to `end` of text already encoded as UTF-8 (rendered by a worker thread) */
  writeBytes(bytes: Uint8Array, at: number, end: number): void;
  flush(): void;
  /** the reader went away: further output is dropped */
  readonly closed: boolean;
}

/** Buffered writes to a file descriptor; a closed pipe (`| head`) ends output quietly. */
export function fdSink(fd: number, name: string): FdSink {
  const buf = new Uint8Array(BUFFER_BYTES);
  const utf8 = new TextEncoder();
  let len = 0;
  let closed = false;
  const writeAll = (bytes: Uint8Array) => {
    let backoff = MIN_WAIT_MS;
    for (let off = 0; off < bytes.length && !closed; ) {
      try {
        off += writeSync(fd, bytes, off, bytes.length - off);
        backoff = MIN_WAIT_MS;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A non-blocking stdout (a parent's pipe) that is full: wait, then retry. Briefly
        // at first: a fixed millisecond held a fast reader (| md5sum) to 64 KiB per ms.
        if (code === "EAGAIN") {
          Atomics.wait(pause, 0, 0, backoff);
          backoff = Math.min(2 * backoff, MAX_WAIT_MS);
        } else if (code === "EPIPE") closed = true;
        else throw new OutputError(name, (e as Error).message);
      }
    }
  };
  const drain = () => {
    if (len > 0) writeAll(buf.subarray(0, len));
    len = 0;
  };
  const copy = (bytes: Uint8Array) => {
    if (len + bytes.length > buf.length) drain();
    if (bytes.length > buf.length) return writeAll(bytes);
    buf.set(bytes, len);
    len += bytes.length;
  };
  // Texts that follow each other in a worker's result are copied as one run.
  let run: Uint8Array | null = null;
  let runAt = 0;
  let runEnd = 0;
  const endRun = () => {
    if (run === null) return;
    const bytes = run.subarray(runAt, runEnd);
    run = null;
    copy(bytes);
  };
  const flush = () => {
    endRun();
    drain();
  };
  const writeBytes = (bytes: Uint8Array, at: number, end: number) => {
    if (closed) return;
    if (bytes === run && at === runEnd) {
      runEnd = end;
      return;
    }
    endRun();
    run = bytes;
    runAt = at;
    runEnd = end;
  };
  return {
    write(chunk: string) {
      if (closed || chunk.length === 0) return;
      endRun();
      // Up to 3 bytes per UTF-16 unit.
      if (3 * chunk.length > buf.length - len) flush();
      if (3 * chunk.length <= buf.length - len) {
        len += utf8.encodeInto(chunk, buf.subarray(len)).written;
        return;
      }
      // A long text (a crafted capture's megabyte names) goes through the buffer in
      // pieces, never encoded whole, and a huge one is collected once written: their
      // copies piled up for hundreds of MiB before the collector freed them.
      for (let at = 0; at < chunk.length && !closed; ) {
        // Whole UTF-16 units that fit; a surrogate pair is not split.
        let end = Math.min(chunk.length, at + Math.floor(buf.length / 3));
        if (end < chunk.length && (chunk.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--;
        len += utf8.encodeInto(chunk.slice(at, end), buf.subarray(len)).written;
        flush();
        at = end;
      }
      if (chunk.length >= HUGE_TEXT) collectGarbage();
    },
    writeBytes,
    flush,
    get closed() {
      return closed;
    },
  };
}

/**
 * Runs `write` on standard output, or on `path` (--out) created new (openNewFile: never
 * over a file without `force`, never through a symbolic link), flushed and closed after.
 */
export function writeOutput(path: string | undefined, force: boolean, write: (out: FdSink) => void): void {
  const fd = path === undefined ? 1 : openNewFile(path, { force });
  try {
    const out = fdSink(fd, path ?? "stdout");
    write(out);
    out.flush();
  } finally {
    if (path !== undefined) closeSync(fd);
  }
}
