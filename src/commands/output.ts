// Output of commands to a file descriptor: buffered, patient with a full
// non-blocking pipe, and quiet when the reader goes away (`| head`).
import { writeSync } from "node:fs";
import { OutputError } from "../errors.ts";

const FLUSH_BYTES = 64 * 1024;
const pause = new Int32Array(new SharedArrayBuffer(4));

export interface FdSink {
  write(chunk: string): void;
  flush(): void;
  /** the reader went away: further output is dropped */
  readonly closed: boolean;
}

/** Buffered writes to a file descriptor; a closed pipe (`| head`) ends output quietly. */
export function fdSink(fd: number, name: string): FdSink {
  let buf = "";
  let closed = false;
  const flush = () => {
    if (closed || buf === "") return;
    const bytes = Buffer.from(buf);
    buf = "";
    for (let off = 0; off < bytes.length; ) {
      try {
        off += writeSync(fd, bytes, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A non-blocking stdout (a parent's pipe) that is full: wait, then retry.
        if (code === "EAGAIN") Atomics.wait(pause, 0, 0, 1);
        else if (code === "EPIPE") return void (closed = true);
        else throw new OutputError(name, (e as Error).message);
      }
    }
  };
  return {
    write: (chunk: string) => {
      buf += chunk;
      if (buf.length >= FLUSH_BYTES) flush();
    },
    flush,
    get closed() {
      return closed;
    },
  };
}

