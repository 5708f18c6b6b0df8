// Read-speed benchmark: writes a capture of N varied events and times
// readCapture over it (µs per event), best of several runs. Not a test:
//   node_modules/.bin/bun test/support/bench_read.ts [events] [--skip] [--verify]
// With --skip, also times a read whose skipSegment drops every segment; with
// --verify, verifyCapture and captureInfo over the same file.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCapture } from "../../src/capture/reader.ts";
import { captureInfo } from "../../src/info.ts";
import { verifyCapture } from "../../src/verify.ts";
import { CaptureWriter } from "../../src/capture/writer.ts";
import type { CaptureHeader } from "../../src/event.ts";
import { latin1, makeEvent } from "./events.ts";

const n = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), "dmrec-bench-"));
const path = join(dir, "bench.cbor.zst");
const header = {
  type: "header",
  format: "dmrec-capture",
  version: 1,
  dmrec_version: "0.1.0",
  host: { hostname: "bench", kernel: "6.1.0", boot_id: "00000000-0000-0000-0000-000000000000", arch: "x86_64" },
  hook: "kprobe",
  module_free: true,
  find_module: true,
  clock: { boot_to_wall_ns: 1764000000000000000n },
  argv: ["dmrec", "record"],
  start_ns: 1764118674000000000n,
  set: { id: "00000000-0000-4000-8000-000000000000", file_index: 1, prev_file_hash: null },
} satisfies CaptureHeader;
try {
  const w = CaptureWriter.create(path, header);
  const names = ["dummy", "loop", "nf_tables", "xfs", "br_netfilter", "overlay", "kvm", "snd_hda_intel"];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const name = latin1(names[i % names.length]! + (i % 97 === 0 ? String(i) : ""));
    w.write(makeEvent({ pid: 1000 + (i % 5000), ts_ns: 1764118674123456789n + BigInt(i) * 1000n, name, name_entry: name, name_exit: name, name_kernel: name, ret: i % 3 ? -2 : 0 }));
  }
  w.close();
  const writeUs = ((performance.now() - t0) * 1000) / n;
  const runs: number[] = [];
  let count = 0;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    count = 0;
    for (const item of readCapture(path)) if (item.type === "event") count++;
    runs.push(((performance.now() - t) * 1000) / n);
  }
  if (count !== n) throw new Error(`read ${count} events, wrote ${n}`);
  const out: Record<string, unknown> = {
    events: n,
    bytes: statSync(path).size,
    bytesPerEvent: +(statSync(path).size / n).toFixed(2),
    writeUsPerEvent: +writeUs.toFixed(3),
    readUsPerEvent: +Math.min(...runs).toFixed(3),
  };
  if (process.argv.includes("--skip")) {
    const t = performance.now();
    let seen = 0;
    for (const item of readCapture(path, { skipSegment: () => true })) if (item.type === "event") seen++;
    out.skipAllUsPerEvent = +(((performance.now() - t) * 1000) / n).toFixed(3);
    out.eventsWhenSkippingAll = seen;
  }
  if (process.argv.includes("--verify")) {
    let t = performance.now();
    const v = verifyCapture(path);
    out.verifyUsPerEvent = +(((performance.now() - t) * 1000) / n).toFixed(3);
    out.verifyKind = v.kind;
    t = performance.now();
    captureInfo(path);
    out.infoUsPerEvent = +(((performance.now() - t) * 1000) / n).toFixed(3);
  }
  console.log(JSON.stringify(out));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
