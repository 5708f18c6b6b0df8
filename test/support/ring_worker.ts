// A worker for byte_ring.test.ts: writes `count` messages of pseudo-random
// lengths (up to 3x the ring) into the ring, each filled from its index.
import { RingWriter } from "../../src/query/byte_ring.ts";

declare const self: Worker;
self.onmessage = (e: MessageEvent<{ ring: SharedArrayBuffer; count: number; maxLength: number }>) => {
  const { ring, count, maxLength } = e.data;
  const w = new RingWriter(ring);
  let seed = 1;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const n = seed % maxLength;
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, n);
    w.write(head);
    w.write(new Uint8Array(n).fill(i % 251));
  }
  self.postMessage("done");
};
