// Forward-secure signatures on the real recorder (docs/FORMAT.md,
// "Forward-secure signatures"): the fingerprint record prints is what verify
// trusts, a kill -9 leaves an authentic prefix, and a capture written to
// standard output leaves the host as it is written and verifies like a file.
import { afterAll, expect, test } from "bun:test";
import { createHash, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ascii, DM_CALL, DMREC, dmrec, hex, query, readUntil, requireRoot, runJson } from "../support/recorder.ts";

requireRoot();

const dir = mkdtempSync(join(tmpdir(), "dmrec-signing-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PIN_LINE = /first key of (.+): ([0-9a-f]{64}) \(keep it off this host; dmrec verify --pin \2\)/;

test("keygen prints its key's fingerprint: SHA-256 of the raw public key, what a seal's signed_by names", () => {
  const key = join(dir, "printed");
  const r = dmrec("keygen", "--out", key);
  expect(r.code).toBe(0);
  const der = createPublicKey(readFileSync(`${key}.pub`)).export({ type: "spki", format: "der" });
  const want = createHash("sha256").update(der.subarray(der.length - 32)).digest("hex");
  expect(r.stderr).toBe(`dmrec: wrote ${key}.key (private, keep it on the recording host) and ${key}.pub (for verify --pubkey); fingerprint ${want}\n`);
});

test("kill -9 of a signed recording: what reached the disk is authenticated, by the pin record printed and by the long-term key", async () => {
  const key = join(dir, "k");
  expect(dmrec("keygen", "--out", key).code).toBe(0);
  const out = join(dir, "killed.cbor.zst");
  const rec = Bun.spawn([DMREC, "record", "--out", out, "--sign-key", `${key}.key`, "--segment-events", "50", "--segment-ms", "100"], { stderr: "pipe" });
  const { text } = await readUntil(rec.stderr, /recording to/, 20_000);
  const [, file, pin] = PIN_LINE.exec(text)!;
  expect(file).toBe(out);
  const [first] = runJson<{ pid: number }>([DM_CALL, "--flood", "200", hex(ascii("signed_before")), "0"]);
  await Bun.sleep(600);
  const flood = Bun.spawn([DM_CALL, "--flood", "100000", hex(ascii("signed_during")), "0"], { stdout: "ignore" });
  await Bun.sleep(50);
  rec.kill("SIGKILL");
  await rec.exited;
  await flood.exited;

  for (const anchor of [["--pin", pin!], ["--pubkey", `${key}.pub`]]) {
    const v = dmrec("verify", "--json", ...anchor, out);
    const report = JSON.parse(v.stdout);
    const f = report.files[0];
    // A crash: unsealed, or truncated when the kill cut a write; never a forgery.
    expect([13, 12]).toContain(v.code);
    expect(f.problems.map((p: { kind: string }) => p.kind)).not.toContain("bad_signature");
    expect(f.auth).toMatchObject({ anchor: anchor[0] === "--pin" ? "pin" : "endorsement", seal: false });
    expect(f.auth.through).toBeGreaterThanOrEqual(1);
    expect(f.signature).toBe("partial");
    const text = dmrec("verify", ...anchor, out).stdout;
    expect(text).toMatch(/authenticated: ((all \d+ segments|its one segment) \(up to [^)]+\), but no seal|segments 1 to \d+ of \d+ \(up to [^)]+\), not what follows)/);
  }
  // The 200 calls made before are in the authenticated part.
  const counted = dmrec("query", out, "--pid", String(first!.pid), "--count");
  expect(counted.stdout.trim()).toBe("200");
});

test("record --out - streams the capture: the shipped copy verifies with the printed pin, and so does what had arrived mid-recording", async () => {
  const copy = join(dir, "shipped.cbor.zst");
  const rec = Bun.spawn([DMREC, "record", "--out", "-", "--duration", "4s", "--segment-ms", "100"], { stdout: "pipe", stderr: "pipe" });
  const chunks: Uint8Array[] = [];
  const reading = (async () => {
    for await (const c of rec.stdout) chunks.push(c);
  })();
  const { text } = await readUntil(rec.stderr, /recording to standard output/, 20_000);
  const [, file, pin] = PIN_LINE.exec(text)!;
  expect(file).toBe("standard output");
  const calls = runJson<{ pid: number }>([DM_CALL, hex(ascii("shipped_a")), "0", hex(ascii("shipped_b")), "0"]);
  await Bun.sleep(800);
  // What has left the host so far: segments already signed, no seal yet.
  const partial = join(dir, "partial.cbor.zst");
  writeFileSync(partial, Buffer.concat(chunks));
  const mid = dmrec("verify", "--pin", pin!, partial);
  expect(mid.code).toBe(13);
  expect(mid.stdout).toMatch(/authenticated: (all \d+ segments|its one segment) \(up to [^)]+\), but no seal, by the key chain from its pinned first key/);
  expect(await rec.exited).toBe(0);
  await reading;
  writeFileSync(copy, Buffer.concat(chunks));
  const v = dmrec("verify", "--pin", pin!, copy);
  expect([v.code, v.stdout]).toEqual([0, expect.stringMatching(/OK \(.*sealed, authenticated\)/)]);
  expect(query(copy, "--pid", String(calls[0]!.pid))).toHaveLength(2);
});

test("record --out - refuses what cannot go with it: rotation and --print", () => {
  for (const extra of [["--rotate-size", "1M"], ["--rotate-every", "1h"], ["--max-files", "3"], ["--print"]]) {
    const r = dmrec("record", "--out", "-", "--duration", "1s", ...extra);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toMatch(new RegExp(`^dmrec: ${extra[0]}: `));
  }
});

test("a rotated recording is one chain of keys: the first file's pin vouches for the whole set, each file's printed pin for the rest", () => {
  const out = join(dir, "rotated.cbor.zst");
  const rec = dmrec("record", "--out", out, "--rotate-every", "1s", "--duration", "2500ms");
  expect(rec.code).toBe(0);
  const pins = [...rec.stderr.matchAll(new RegExp(PIN_LINE.source, "g"))].map((m) => ({ file: m[1]!, pin: m[2]! }));
  expect(pins.map((p) => p.file)).toEqual([out, join(dir, "rotated.000002.cbor.zst"), join(dir, "rotated.000003.cbor.zst")]);
  const whole = JSON.parse(dmrec("verify", "--json", "--pin", pins[0]!.pin, ...pins.map((p) => p.file)).stdout);
  expect([whole.kind, whole.files.map((f: { auth: { anchor: string } }) => f.auth.anchor)]).toEqual(["ok", ["pin", "previous file", "previous file"]]);
  // Rotated away: the rest of the set from the pin printed when its first file began.
  const rest = JSON.parse(dmrec("verify", "--json", "--pin", pins[1]!.pin, pins[1]!.file, pins[2]!.file).stdout);
  expect([rest.kind, rest.files.map((f: { auth: { anchor: string } }) => f.auth.anchor)]).toEqual(["ok", ["pin", "previous file"]]);
  // Without the first file's pin, a later file is not vouched for.
  const unpinned = dmrec("verify", "--pin", pins[0]!.pin, pins[2]!.file);
  expect(unpinned.code).toBe(14);
});
