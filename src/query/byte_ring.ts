// A byte stream from one thread to another through a SharedArrayBuffer: the
// writer blocks while it is full, the reader while it is empty (Atomics.wait,
// which both runtimes allow on every thread). It lets the main thread take a
// worker's results synchronously, in order, so that the sequential reading
// pipeline stays one synchronous generator whether or not workers decode.
// One writer and one reader; messages of any length pass in pieces.

const USED = 0;
/** Set by either side when it stops: a blocked peer then gives up instead of waiting forever. */
const CLOSED = 1;
const CONTROL_BYTES = 8;

/** The other side closed the ring while this side waited on it. */
export class RingClosedError extends Error {
  constructor() {
    super("the other side of the ring went away");
    this.name = "RingClosedError";
  }
}

export function createRing(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + capacity);
}

class RingEnd {
  protected readonly control: Int32Array;
  protected readonly data: Uint8Array;
  protected pos = 0;

  constructor(sab: SharedArrayBuffer) {
    this.control = new Int32Array(sab, 0, 2);
    this.data = new Uint8Array(sab, CONTROL_BYTES);
  }

  close(): void {
    Atomics.store(this.control, CLOSED, 1);
    Atomics.notify(this.control, USED);
  }

  /** Waits until `used` is no longer `seen`. */
  protected waitWhile(seen: number): void {
    for (;;) {
      if (Atomics.load(this.control, USED) !== seen) return;
      if (Atomics.load(this.control, CLOSED)) throw new RingClosedError();
      Atomics.wait(this.control, USED, seen, 1000);
    }
  }
}

export class RingWriter extends RingEnd {
  /** Copies all of `bytes` in, waiting for room as the reader takes what is there. */
  write(bytes: Uint8Array): void {
    const cap = this.data.length;
    for (let off = 0; off < bytes.length; ) {
      let used = Atomics.load(this.control, USED);
      while (used === cap) {
        this.waitWhile(cap);
        used = Atomics.load(this.control, USED);
      }
      const n = Math.min(cap - used, bytes.length - off, cap - this.pos);
      this.data.set(bytes.subarray(off, off + n), this.pos);
      this.pos = (this.pos + n) % cap;
      off += n;
      Atomics.add(this.control, USED, n);
      Atomics.notify(this.control, USED);
    }
  }
}

export class RingReader extends RingEnd {
  /** read() of a few bytes that gives up after `ms` with nothing there: false then. */
  readWithin(into: Uint8Array, ms: number): boolean {
    const deadline = Date.now() + ms;
    while (Atomics.load(this.control, USED) < into.length) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.load(this.control, CLOSED)) return false;
      Atomics.wait(this.control, USED, Atomics.load(this.control, USED), Math.min(left, 100));
    }
    this.read(into);
    return true;
  }

  /** Fills all of `into`, waiting for the writer as needed. */
  read(into: Uint8Array): void {
    const cap = this.data.length;
    for (let off = 0; off < into.length; ) {
      let used = Atomics.load(this.control, USED);
      while (used === 0) {
        this.waitWhile(0);
        used = Atomics.load(this.control, USED);
      }
      const n = Math.min(used, into.length - off, cap - this.pos);
      into.set(this.data.subarray(this.pos, this.pos + n), off);
      this.pos = (this.pos + n) % cap;
      off += n;
      Atomics.sub(this.control, USED, n);
      Atomics.notify(this.control, USED);
    }
  }
}
