// fdSink copies texts that follow each other in one buffer as one run: whatever the
// mix of runs, strings and buffers given back, the file holds every byte in order.
import { expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fdSink } from "../../src/commands/output.ts";

const utf8 = new TextEncoder();

test("runs, breaks in them, strings between them, runs longer than the buffer, a buffer given back once the next is written", () => {
  const path = join(mkdtempSync(join(tmpdir(), "dmrec-out-")), "out");
  const fd = openSync(path, "w");
  const sink = fdSink(fd, path);
  let want = "";
  let previous: Uint8Array | null = null;
  for (let round = 0; round < 40; round++) {
    // Texts one after the other in one buffer, as a worker's result holds them.
    const texts = Array.from({ length: 50 + round * 7 }, (_, i) => `{"round":${round},"i":${i},"pad":"${"x".repeat((i * 31) % 200)}"}\n`);
    if (round % 10 === 9) texts.push("y".repeat(300_000) + "\n");
    const bytes = utf8.encode(texts.join(""));
    let at = 0;
    texts.forEach((t, i) => {
      const end = at + utf8.encode(t).length;
      // Every fifth text is skipped (filtered out), every seventh is preceded by a string.
      if (i % 5 !== 4) {
        if (i % 7 === 0) {
          sink.write(`# ${round}.${i}\n`);
          want += `# ${round}.${i}\n`;
        }
        sink.writeBytes(bytes, at, end);
        want += t;
      }
      at = end;
    });
    // As parallel.ts's written() does, one result late: the last run may still be held.
    (previous?.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer })?.transfer?.(0);
    previous = bytes;
  }
  sink.write("end\n");
  want += "end\n";
  sink.flush();
  closeSync(fd);
  expect(readFileSync(path, "utf8")).toBe(want);
});
