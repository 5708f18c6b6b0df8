// Rotation and signing on the real kernel: each file of a set is sealed and
// names its predecessor's final hash, so verify checks the set as a chain.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, captureItems, DM_CALL, DMREC, dmrec, hex, query, readUntil, requireRoot, runJson } from "../support/recorder.ts";

requireRoot();

const dir = mkdtempSync(join(tmpdir(), "dmrec-rotation-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const setFiles = (prefix: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith(".cbor.zst"))
    .sort()
    .map((f) => join(dir, f));

async function recordWhile(args: string[], during: (rec: ReturnType<typeof Bun.spawn>) => Promise<void>) {
  const rec = Bun.spawn([DMREC, "record", ...args], { stderr: "pipe" });
  const { text, reader } = await readUntil(rec.stderr, /recording to/, 20_000);
  await during(rec);
  await Bun.sleep(300);
  rec.kill("SIGINT");
  const code = await rec.exited;
  let stderr = text;
  for (let c = await reader.read(); !c.done; c = await reader.read()) stderr += new TextDecoder().decode(c.value);
  return { code, stderr };
}

test("SIGHUP starts a new file; the set verifies as a chain; a missing middle file is reported", async () => {
  const out = join(dir, "hup.cbor.zst");
  const pids: number[] = [];
  const r = await recordWhile(["--out", out, "--segment-ms", "100"], async (rec) => {
    for (let i = 0; i < 3; i++) {
      pids.push(runJson<{ pid: number }>([DM_CALL, hex(ascii(`hup_${i}`)), "0"])[0]!.pid);
      await Bun.sleep(300);
      if (i < 2) {
        rec.kill("SIGHUP");
        await Bun.sleep(300);
      }
    }
  });
  expect(r.code).toBe(0);
  const files = setFiles("hup");
  expect(files.map((f) => f.slice(dir.length + 1))).toEqual(["hup.000002.cbor.zst", "hup.000003.cbor.zst", "hup.cbor.zst"]);
  expect(r.stderr).toContain(`closed ${out}, recording to ${join(dir, "hup.000002.cbor.zst")}`);
  expect(r.stderr).toMatch(/3 files \(.*hup\.cbor\.zst \.\.\. .*hup\.000003\.cbor\.zst\): 3 events, 0 aggregated, 0 lost/);
  // One call in each file, in order, and the headers chain the set.
  const ordered = [out, join(dir, "hup.000002.cbor.zst"), join(dir, "hup.000003.cbor.zst")];
  ordered.forEach((f, i) => expect(query(f).map((e) => e.pid)).toEqual([pids[i]]));
  const headers = ordered.map((f) => captureItems(f)[0]! as { set: { id: string; file_index: number; prev_file_hash: unknown } });
  expect(headers.map((h) => h.set.file_index)).toEqual([1, 2, 3]);
  expect(new Set(headers.map((h) => h.set.id)).size).toBe(1);
  expect(headers[0]!.set.prev_file_hash).toBeNull();
  // query over the set merges it in time order
  expect(query(ordered[2]!, ordered[0]!, ordered[1]!).map((e) => e.pid)).toEqual(pids);

  expect(dmrec("verify", ...ordered).code).toBe(0);
  const gap = dmrec("verify", ordered[0]!, ordered[2]!);
  expect(gap.code).toBe(16);
  expect(gap.stdout + gap.stderr).toMatch(/missing/i);
});

test("--rotate-size and --max-files keep the newest files only", async () => {
  const out = join(dir, "size.cbor.zst");
  const r = await recordWhile(["--out", out, "--segment-events", "10", "--rotate-size", "1K", "--max-files", "2"], async () => {
    for (let i = 0; i < 8; i++) {
      Bun.spawnSync([DM_CALL, ...Array.from({ length: 20 }, (_, j) => [hex(ascii(`${crypto.randomUUID()}${i}${j}`)), "0"]).flat()]);
      await Bun.sleep(150);
    }
  });
  expect(r.code).toBe(0);
  const files = setFiles("size");
  expect(files.length).toBe(2);
  expect(existsSync(out)).toBe(false); // the oldest went first
  expect(r.stderr).toMatch(/deleted .*size\.cbor\.zst \(--max-files\)/);
  for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);
  // The survivors still verify: a set may begin after files rotated away.
  expect(dmrec("verify", ...files).code).toBe(0);
});

test("--rotate-every starts a new file on time", async () => {
  const out = join(dir, "every.cbor.zst");
  const rec = Bun.spawnSync([DMREC, "record", "--out", out, "--rotate-every", "1s", "--duration", "2500ms", "--quiet"]);
  expect(rec.exitCode).toBe(0);
  expect(setFiles("every").length).toBe(3);
  // Quiet, but each file's first key is still handed out.
  expect(rec.stderr.toString().match(/^dmrec: first key of /gm)).toHaveLength(3);
});

test("signed seals: verify with the right key, the wrong key, and without a key", async () => {
  const keys = ["good", "other"].map((k) => {
    const r = dmrec("keygen", "--out", join(dir, k));
    expect(r.code).toBe(0);
    return { key: join(dir, `${k}.key`), pub: join(dir, `${k}.pub`) };
  });
  expect(statSync(keys[0]!.key).mode & 0o777).toBe(0o600);
  const out = join(dir, "signed.cbor.zst");
  const rec = Bun.spawnSync([DMREC, "record", "--out", out, "--duration", "500ms", "--sign-key", keys[0]!.key, "--quiet"]);
  expect(rec.stderr.toString()).toMatch(/^dmrec: first key of [^\n]+\n$/);
  expect(rec.exitCode).toBe(0);
  expect(dmrec("verify", out, "--pubkey", keys[0]!.pub).code).toBe(0);
  const wrong = dmrec("verify", out, "--pubkey", keys[1]!.pub);
  expect(wrong.code).toBe(14);
  expect(wrong.stdout + wrong.stderr).toMatch(/its first key is endorsed by long-term key [0-9a-f]{64}, not by the given key/);
  expect(dmrec("verify", out).code).toBe(0);
  const unsigned = join(dir, "unsigned.cbor.zst");
  expect(Bun.spawnSync([DMREC, "record", "--out", unsigned, "--duration", "300ms", "--quiet"]).exitCode).toBe(0);
  expect(dmrec("verify", unsigned, "--pubkey", keys[0]!.pub).code).toBe(15);
  // A key file that is not a key: one clear error before anything is recorded.
  writeFileSync(join(dir, "bad.key"), "not a key\n");
  const bad = dmrec("record", "--out", join(dir, "never.cbor.zst"), "--sign-key", join(dir, "bad.key"));
  expect(bad.code).toBe(3);
  expect(bad.stderr.trimEnd().split("\n").length).toBe(1);
  expect(existsSync(join(dir, "never.cbor.zst"))).toBe(false);
});

test("a rotated file left from an earlier run is passed over, not replaced, and the set still chains", () => {
  const out = join(dir, "again.cbor.zst");
  const earlier = join(dir, "again.000002.cbor.zst");
  writeFileSync(earlier, "earlier run");
  const r = dmrec("record", "--out", out, "--rotate-every", "1s", "--duration", "1500ms");
  expect(r.code).toBe(0);
  expect(readFileSync(earlier, "utf8")).toBe("earlier run");
  expect(r.stderr).toContain(`closed ${out}, recording to ${join(dir, "again.000003.cbor.zst")}; passed over ${earlier}: exists`);
  const written = [out, join(dir, "again.000003.cbor.zst")];
  expect(written.map((f) => (captureItems(f)[0]!.set as { file_index: number }).file_index)).toEqual([1, 2]);
  expect(dmrec("verify", ...written).code).toBe(0);
});

test("names planted while recording, a file and a symlink, never stop or redirect the recording", async () => {
  const out = join(dir, "plant.cbor.zst");
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious");
  const r = await recordWhile(["--out", out], async (rec) => {
    writeFileSync(join(dir, "plant.000002.cbor.zst"), "planted");
    symlinkSync(victim, join(dir, "plant.000003.cbor.zst"));
    rec.kill("SIGHUP");
    await Bun.sleep(400);
    runJson([DM_CALL, hex(ascii("after_plant")), "0"]);
  });
  expect(r.code).toBe(0);
  expect(readFileSync(victim, "utf8")).toBe("precious");
  expect(readFileSync(join(dir, "plant.000002.cbor.zst"), "utf8")).toBe("planted");
  const next = join(dir, "plant.000004.cbor.zst");
  expect(r.stderr).toMatch(/passed over .*plant\.000002\.cbor\.zst: exists.*, .*plant\.000003\.cbor\.zst: is a symbolic link/);
  expect(query(next, "--module", "after_plant").length).toBe(1);
  expect(dmrec("verify", out, next).code).toBe(0);
});

test("a second recorder on a live capture is refused, --force or not, also once the first has rotated", async () => {
  const out = join(dir, "live.cbor.zst");
  let second = { code: -1, stdout: "", stderr: "" };
  let afterRotation = second;
  const r = await recordWhile(["--out", out], async (rec) => {
    second = dmrec("record", "--out", out, "--force", "--duration", "1s");
    rec.kill("SIGHUP");
    await Bun.sleep(400);
    afterRotation = dmrec("record", "--out", out, "--force", "--duration", "1s");
  });
  expect(r.code).toBe(0);
  for (const refused of [second, afterRotation]) {
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/live\.cbor\.zst: is being recorded by another dmrec/);
  }
  expect(dmrec("verify", out, join(dir, "live.000002.cbor.zst")).code).toBe(0);
});

test("--max-files goes on when an old file was already moved away", async () => {
  const out = join(dir, "moved.cbor.zst");
  const r = await recordWhile(["--out", out, "--max-files", "1"], async (rec) => {
    rmSync(out); // an operator archived the first file already
    rec.kill("SIGHUP");
    await Bun.sleep(400);
  });
  expect(r.code).toBe(0);
  expect(setFiles("moved").map((f) => f.slice(dir.length + 1))).toEqual(["moved.000002.cbor.zst"]);
});

test("--rotate-every must be longer than 0", () => {
  const r = dmrec("record", "--out", join(dir, "zero.cbor.zst"), "--rotate-every", "0");
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('dmrec: --rotate-every: must be longer than 0, got "0"\n');
});

test("keygen writes both files or neither", () => {
  writeFileSync(join(dir, "half.pub"), "old public key");
  const r = dmrec("keygen", "--out", join(dir, "half"));
  expect(r.code).toBe(5);
  expect(r.stderr).toMatch(/half\.pub: exists \(use --force to overwrite\)/);
  expect(existsSync(join(dir, "half.key"))).toBe(false);
});

test("record --print into a reader that goes away keeps recording and seals the capture", async () => {
  const out = join(dir, "printed.cbor.zst");
  const rec = Bun.spawn(["sh", "-c", `${DMREC} record --out ${out} --print --duration 3s | head -c 10 > /dev/null`], { stderr: "pipe" });
  await readUntil(rec.stderr, /recording to/, 20_000);
  for (let i = 0; i < 3; i++) {
    runJson([DM_CALL, hex(ascii(`printed_${i}`)), "0"]);
    await Bun.sleep(300);
  }
  expect(await rec.exited).toBe(0);
  expect(dmrec("verify", out).code).toBe(0);
  expect(query(out, "--module", "printed_*").length).toBe(3);
});
