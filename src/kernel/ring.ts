// Reads a BPF ring buffer through its mapped pages, in batches the caller
// sizes. libbpf 1.1's ring_buffer__poll hands records one by one to a
// callback and only returns once the ring is empty, which under a flood is
// never; reading the pages here lets the record loop take what it can handle
// and get back to signals, timers and rotation. Layout (kernel/bpf/ringbuf.c):
// a consumer page the reader writes, then a producer page and the data area;
// each record is an 8-byte header (length with busy and discard bits) and its
// bytes, 8-aligned. The kernel offers the data area mapped twice in a row, so
// that no record wraps; it is mapped once here, and the rare record that wraps
// is copied whole: the second mapping was as much resident memory as the ring.
import { mapShared, pageSize, type Mapping } from "./ffi.ts";

const BUSY_BIT = 2 ** 31;
const DISCARD_BIT = 2 ** 30;
const HEADER_BYTES = 8;
const WEAKLY_ORDERED = process.arch !== "x64";
/** The consumer position is published this often within a batch, so the kernel can reuse space early. */
const PUBLISH_EVERY = 1024;

/** Receives one record; the bytes are only valid during the call. */
export type RecordSink = (record: Uint8Array) => void;

export class RingReader {
  private readonly consumerMap: Mapping;
  private readonly dataMap: Mapping;
  private readonly consumerPos: BigInt64Array;
  private readonly producerPos: BigInt64Array;
  private readonly headers: Uint32Array;
  private readonly bytes: Uint8Array;
  private readonly dataStart: number;
  /** a record that wraps round the end of the data area, made whole */
  private wrapped = new Uint8Array(0);

  /** `size` is the map's max_entries: the data area's size, a power of two. */
  constructor(
    readonly fd: number,
    private readonly size: number,
  ) {
    const page = pageSize();
    this.consumerMap = mapShared(fd, page, 0, true);
    try {
      this.dataMap = mapShared(fd, page + size, page, false);
    } catch (e) {
      this.consumerMap.unmap();
      throw e;
    }
    this.consumerPos = new BigInt64Array(this.consumerMap.buffer, 0, 1);
    this.producerPos = new BigInt64Array(this.dataMap.buffer, 0, 1);
    this.headers = new Uint32Array(this.dataMap.buffer);
    this.bytes = new Uint8Array(this.dataMap.buffer);
    this.dataStart = page;
  }

  /**
   * Orders the plain loads around it. Atomics must not touch the producer
   * and data pages: they are mapped read-only, and JavaScriptCore's
   * Atomics.load is a fenced read-modify-write (fetch_add of 0), a write that
   * faults there. The consumer page is writable, so atomics on it serve as the
   * barrier. On x86 loads are not reordered with loads, and one keeps the
   * compiler from doing it. On arm64 that read-modify-write is a load-acquire
   * and a store-release (LDAXR/STLXR, or LDADDAL): a plain load before it may
   * still be performed after a plain load after it. Two in a row order them,
   * since the second's acquire comes after the first's release (RCsc).
   */
  private fence(): void {
    Atomics.load(this.consumerPos, 0);
    if (WEAKLY_ORDERED) Atomics.load(this.consumerPos, 0);
  }

  /** Where the producer is: read(…, upTo) stops there. */
  mark(): number {
    return Number(this.producerPos[0]);
  }

  /** Whether everything up to `mark` has been read. */
  readTo(mark: number): boolean {
    return Number(Atomics.load(this.consumerPos, 0)) >= mark;
  }

  /**
   * Hands up to `max` waiting records to `sink`, oldest first, none written
   * after `upTo` (a mark()); returns how many it read.
   */
  read(sink: RecordSink, max: number, upTo = Infinity): number {
    let cons = Number(Atomics.load(this.consumerPos, 0));
    const prod = Math.min(Number(this.producerPos[0]), upTo);
    this.fence();
    let n = 0;
    try {
      while (cons < prod && n < max) {
        // The header is 8-aligned: never split by the end of the data area.
        const off = cons % this.size;
        const header = this.headers[(this.dataStart + off) / 4]!;
        this.fence();
        // Reserved but not yet committed: it and everything after it must wait.
        if (header & BUSY_BIT) break;
        const len = header & (DISCARD_BIT - 1);
        if (!(header & DISCARD_BIT)) {
          const from = this.dataStart + off + HEADER_BYTES;
          sink(off + HEADER_BYTES + len <= this.size ? this.bytes.subarray(from, from + len) : this.unwrapped(off + HEADER_BYTES, len));
        }
        cons += Math.ceil((len + HEADER_BYTES) / 8) * 8;
        if (++n % PUBLISH_EVERY === 0) Atomics.store(this.consumerPos, 0, BigInt(cons));
      }
    } finally {
      // Also when the sink throws: the records before it were taken.
      Atomics.store(this.consumerPos, 0, BigInt(cons));
    }
    return n;
  }

  /** The `len` bytes from `off` in the data area (at most its size) on, past its end to its start: copied whole. */
  private unwrapped(off: number, len: number): Uint8Array {
    if (this.wrapped.length < len) this.wrapped = new Uint8Array(len);
    const first = this.size - off;
    this.wrapped.set(this.bytes.subarray(this.dataStart + off, this.dataStart + this.size));
    this.wrapped.set(this.bytes.subarray(this.dataStart, this.dataStart + len - first), first);
    return this.wrapped.subarray(0, len);
  }

  /** Bytes written but not yet read. */
  pending(): number {
    return Number(this.producerPos[0]! - Atomics.load(this.consumerPos, 0));
  }

  close(): void {
    this.dataMap.unmap();
    this.consumerMap.unmap();
  }
}
