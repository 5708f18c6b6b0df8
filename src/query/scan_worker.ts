// A worker thread of parallel.ts: decompresses, decodes, filters and renders the
// segments it is sent, and writes each one's result into its ring in the order the jobs
// came, in parts of about PART_BYTES so that a crafted segment whose text is many times
// its size is never held whole (the layout is parallel.ts's, which reads it):
//   u32 job, u32 length of the rest; u8 last part, u32 records, f64 calls not in
//   records (counting), u8 failed [failed: u32 length, JSON of the ContentError];
//   per record: i64 ts_ns, f64 calls, u32 length of its text; then the records' texts
//   as UTF-8, one after the other (written out in runs).
import { Buffer } from "node:buffer";
import { ContentError } from "../capture/items.ts";
import { segmentItems } from "../capture/walk.ts";
import type { CaptureHeader, SegmentItem } from "../event.ts";
import { collectGarbage } from "../runtime.ts";
import { RingWriter } from "./byte_ring.ts";
import { callsOf, keeps, parseFilter, type EventFilter, type FilterOptions } from "./filter.ts";
import { recordInto, type LineFormat } from "./lines.ts";

export type WorkerMessage =
  | { t: "init"; ring: SharedArrayBuffer; format: LineFormat | "count"; filter: FilterOptions; nowMs: number; losses: boolean }
  | { t: "header"; capture: number; header: CaptureHeader }
  | { t: "forget"; capture: number }
  | { t: "job"; job: number; capture: number; frame: Uint8Array; contentSize: bigint | null; maxContentBytes: number };

/**
 * A growing output buffer, reused from job to job. A Buffer: its write() encodes at an
 * offset, where encodeInto needs a new subarray for every string.
 */
class Out {
  buf = Buffer.allocUnsafe(1 << 20);
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  len = 0;

  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }
  i64(v: bigint): void {
    this.room(8);
    this.view.setBigInt64(this.len, v, true);
    this.len += 8;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  /** A string as UTF-8. */
  text(s: string): void {
    this.room(3 * s.length);
    this.len += this.buf.write(s, this.len);
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** A length-prefixed UTF-8 string. */
  prefixed(s: string): void {
    const at = this.len;
    this.u32(0);
    this.text(s);
    this.view.setUint32(at, this.len - at - 4, true);
  }
}

declare const self: Worker;

let ring: RingWriter;
let filter: EventFilter;
let losses = false;
let render: ((item: SegmentItem, header: CaptureHeader, sink: Out) => void) | null = null;
const headers = new Map<number, CaptureHeader>();
/** A result's fixed part, its records' times, calls and lengths, and their texts */
const out = new Out();
const index = new Out();
const body = new Out();

/** A record's text this long (a crafted capture's megabyte names) is followed by a collection. */
const HUGE_RECORD = 1 << 20;
/** A part is sent once its records' text passes this. */
const PART_BYTES = 1 << 20;

/** Sends the records in `body` as one part of job `job`'s result. */
function sendPart(job: number, records: number, last: boolean, calls: number, failure: ContentError | null): void {
  out.len = 0;
  out.u32(job);
  out.u32(0);
  out.u8(last ? 1 : 0);
  out.u32(records);
  out.f64(calls);
  out.u8(failure ? 1 : 0);
  if (failure) out.prefixed(JSON.stringify({ stage: failure.stage, text: failure.text, item: failure.item, at: failure.at }));
  out.view.setUint32(4, out.len - 8 + index.len + body.len, true);
  ring.write(out.buf.subarray(0, out.len));
  ring.write(index.buf.subarray(0, index.len));
  ring.write(body.buf.subarray(0, body.len));
  index.len = 0;
  body.len = 0;
}

function run(m: Extract<WorkerMessage, { t: "job" }>): void {
  const header = headers.get(m.capture)!;
  // Each record is written out as it is rendered: nothing of a segment is kept but its text.
  index.len = 0;
  body.len = 0;
  let records = 0;
  let counted = 0;
  let failure: ContentError | null = null;
  try {
    for (const item of segmentItems(m.frame, m.contentSize, m.maxContentBytes)) {
      if (item.type === "header" || !keeps(filter, item, losses)) continue;
      const n = callsOf(item);
      if (!render) {
        counted += n;
        continue;
      }
      const start = body.len;
      render(item, header, body);
      index.i64(item.ts_ns);
      index.f64(n);
      index.u32(body.len - start);
      if (body.len - start >= HUGE_RECORD) collectGarbage();
      if (++records && body.len >= PART_BYTES) {
        sendPart(m.job, records, false, 0, null);
        records = 0;
      }
    }
  } catch (e) {
    if (!(e instanceof ContentError)) throw e;
    failure = e;
  }
  sendPart(m.job, records, true, counted, failure);
}

self.onmessage = (e: MessageEvent<WorkerMessage>) => {
  const m = e.data;
  switch (m.t) {
    case "init":
      ring = new RingWriter(m.ring);
      filter = parseFilter(m.filter, new Date(m.nowMs));
      losses = m.losses;
      render = m.format === "count" ? null : recordInto(m.format);
      // Ready: four bytes the pool waits for before sending any job.
      ring.write(new Uint8Array(4));
      break;
    case "header":
      headers.set(m.capture, m.header);
      break;
    case "forget":
      headers.delete(m.capture);
      break;
    case "job":
      try {
        run(m);
      } catch (err) {
        // A bug, not a bad capture: the main thread reports it as an internal error.
        const bad = new Out();
        bad.u32(m.job);
        bad.u32(0xffffffff);
        bad.prefixed(String((err as Error)?.stack ?? err));
        ring.write(bad.buf.subarray(0, bad.len));
      }
      break;
  }
};
