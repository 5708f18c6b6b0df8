// What a crash or a full disk leaves behind, on the real kernel: kill -9 of
// the recorder at several moments, and a recording into a tiny tmpfs.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, DM_CALL, DMREC, dmrec, hex, readUntil, requireRoot, runJson } from "../support/recorder.ts";

requireRoot();

const dir = mkdtempSync(join(tmpdir(), "dmrec-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("kill -9 at any moment: every complete segment is read by query and accounted for by verify", async () => {
  for (let round = 1; round <= 5; round++) {
    const out = join(dir, `killed-${round}.cbor.zst`);
    const rec = Bun.spawn([DMREC, "record", "--out", out, "--segment-events", "50", "--segment-ms", "100"], {
      stderr: "pipe",
    });
    await readUntil(rec.stderr, /recording to/, 20_000);
    // A first batch that is surely on disk: its segments close within 100 ms.
    const [first] = runJson<{ pid: number }>([DM_CALL, "--flood", "200", hex(ascii(`before_${round}`)), "0"]);
    await Bun.sleep(600);
    // Then a flood that the kill interrupts somewhere in the middle.
    const flood = Bun.spawn([DM_CALL, "--flood", "200000", hex(ascii(`during_${round}`)), "0"], { stdout: "ignore" });
    await Bun.sleep(20 + Math.floor(Math.random() * 200));
    rec.kill("SIGKILL");
    expect(await rec.exited).not.toBe(0);
    await flood.exited;

    const q = dmrec("query", out, "--pid", String(first!.pid), "--count");
    expect([0, 4]).toContain(q.code); // 4: the torn last segment is reported after the intact ones
    expect(q.stdout.trim()).toBe("200");
    const v = dmrec("verify", out);
    expect(v.code).toBe(13); // unsealed: the recorder never closed it
    expect(v.stdout + v.stderr).toMatch(/no seal|unsealed/i);
    expect(v.stdout + v.stderr).toMatch(/intact: \d+ segments?, \d+ events?/);
  }
});

test("a full disk stops the recorder with one clear error; what was written stays readable", async () => {
  const mnt = join(dir, "tiny");
  mkdirSync(mnt);
  const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
  if (mount.exitCode !== 0) throw new Error(`mount tmpfs: ${mount.stderr.toString()}`);
  try {
    const out = join(mnt, "full.cbor.zst");
    const rec = Bun.spawn([DMREC, "record", "--out", out, "--segment-events", "20", "--segment-ms", "50"], { stderr: "pipe" });
    const { reader } = await readUntil(rec.stderr, /recording to/, 20_000);
    // Distinct names compress badly, so the 64k fill quickly.
    for (let i = 0; i < 40 && rec.exitCode === null; i++) {
      Bun.spawnSync([DM_CALL, ...Array.from({ length: 50 }, (_, j) => [hex(ascii(`${crypto.randomUUID()}-${i}-${j}`)), "0"]).flat()]);
      await Bun.sleep(60);
    }
    const code = await Promise.race([rec.exited, Bun.sleep(10_000).then(() => "still running")]);
    expect(code).toBe(5);
    let stderr = "";
    for (let c = await reader.read(); !c.done; c = await reader.read()) stderr += new TextDecoder().decode(c.value);
    expect(stderr).toMatch(/^dmrec: .*full\.cbor\.zst: No space left on device/m);
    expect(stderr).not.toMatch(/\n\s+at /);
    const q = dmrec("query", out, "--count");
    expect(q.code).toBe(0);
    expect(Number(q.stdout.trim())).toBeGreaterThan(0);
    expect(dmrec("verify", out).code).toBe(13);
  } finally {
    Bun.spawnSync(["umount", mnt]);
  }
});
