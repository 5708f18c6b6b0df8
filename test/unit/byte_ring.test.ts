// The ring that carries a worker's results: every byte arrives, in order,
// whatever the message sizes against the ring's capacity (smaller, equal,
// several times larger, wrapping at any offset), and a reader waiting on a
// writer that went away gets an error instead of hanging.
import { expect, test } from "bun:test";
import { createRing, RingClosedError, RingReader, RingWriter } from "../../src/query/byte_ring.ts";

test.each([
  [64, 200],
  [1000, 1000],
  [4096, 10],
])("a worker writes messages to a ring of %d bytes, up to %d bytes each: all arrive intact and in order", async (capacity, maxLength) => {
  const ring = createRing(capacity);
  const worker = new Worker(new URL("../support/ring_worker.ts", import.meta.url).href, { type: "module" });
  const done = new Promise((resolve) => (worker.onmessage = resolve));
  const count = 2000;
  worker.postMessage({ ring, count, maxLength: maxLength * 3 });
  const r = new RingReader(ring);
  let seed = 1;
  const head = new Uint8Array(4);
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    r.read(head);
    const n = new DataView(head.buffer).getUint32(0);
    expect(n).toBe(seed % (maxLength * 3));
    const body = new Uint8Array(n);
    r.read(body);
    expect(body.every((b) => b === i % 251)).toBe(true);
  }
  await done;
  worker.terminate();
});

test("a reader waiting on a closed ring is told so, after what was written", () => {
  const ring = createRing(16);
  const w = new RingWriter(ring);
  w.write(Uint8Array.of(1, 2, 3));
  w.close();
  const r = new RingReader(ring);
  const got = new Uint8Array(3);
  r.read(got);
  expect([...got]).toEqual([1, 2, 3]);
  expect(() => r.read(new Uint8Array(1))).toThrow(RingClosedError);
});
