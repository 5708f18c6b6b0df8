// dmrec info and dmrec verify on a real recording, and the exit code of each
// kind of damage (the verifier's own tests cover every case on crafted files).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { anatomy, concat, slice } from "../support/captures.ts";
import { ascii, DM_CALL, dmrec, hex, requireRoot, runJson, startRecorder } from "../support/recorder.ts";

requireRoot();

let capture: string;
let dir: string;

beforeAll(async () => {
  const rec = await startRecorder(["--segment-events", "2"]);
  [capture, dir] = [rec.capture, rec.dir];
  runJson([DM_CALL, ...["one", "two", "three", "four", "five"].flatMap((n) => [hex(ascii(n)), "0"])]);
  const stopped = await rec.stop();
  if (stopped.exitCode !== 0) throw new Error(stopped.stderr);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("info: header, hook, counts, seal, index", () => {
  const r = dmrec("info", capture);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^hook +raw-syscalls$/m);
  expect(r.stdout).toMatch(/^counts +5 events, 3 segments, 0 loss records \(0 calls lost\)$/m);
  expect(r.stdout).toMatch(/^seal +present, final hash [0-9a-f]{64}$/m);
  expect(r.stdout).toMatch(/^index +complete \(3 of 3 segments\)$/m);
  // Signed all the same, by the key chain alone: no --sign-key was given.
  expect(r.stdout).toMatch(/^signature +each segment and the seal by a forward-secure key chain from first key [0-9a-f]{64} \(checked by dmrec verify --pin or --pubkey\)$/m);
  const [json] = JSON.parse(dmrec("info", capture, "--json").stdout);
  expect(json).toMatchObject({ events: 5, segments: 3, sealed: true, signed: true, signedBy: null, index: "complete", hook: "raw-syscalls" });
  expect(json.keyChain).toEqual({ firstKey: expect.stringMatching(/^[0-9a-f]{64}$/), endorsedBy: null });
});

test("verify: OK, then each kind of damage with its own exit code and a line naming the place", () => {
  const ok = dmrec("verify", capture);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/: OK \(/);
  const bytes = readFileSync(capture);
  const report = JSON.parse(dmrec("verify", capture, "--json").stdout);
  const endOfSegments = report.files[0].intact.endOffset as number;

  const flipped = join(dir, "flipped.cbor.zst");
  const copy = Buffer.from(bytes);
  copy[Math.floor(endOfSegments / 2)]! ^= 0x01;
  writeFileSync(flipped, copy);
  const m = dmrec("verify", flipped);
  expect(m.code).toBe(10);
  expect(m.stdout).toMatch(/segment \d+.*byte \d+|byte \d+.*segment \d+/);

  const cut = join(dir, "cut.cbor.zst");
  writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
  expect(dmrec("verify", cut).code).toBe(12);
  const info = dmrec("info", cut);
  expect(info.code).toBe(4);
  expect(info.stdout).toMatch(/^damage +.*at byte \d+$/m);
  // The file's size, not where reading stopped.
  expect(info.stdout).toContain(`cut.cbor.zst (${bytes.length - 7} bytes)`);
  expect(info.stderr).toMatch(/^dmrec: .*cut\.cbor\.zst: .* at byte \d+\n$/);

  const unsealed = join(dir, "unsealed.cbor.zst");
  writeFileSync(unsealed, bytes.subarray(0, endOfSegments));
  const u = dmrec("verify", unsealed);
  expect(u.code).toBe(13);
  expect(u.stdout).toContain("intact: 3 segments, 5 events");

  const a = anatomy(new Uint8Array(bytes));
  const [s1, s2, s3] = a.segments.map((seg) => slice(a.bytes, seg.data, seg.trailer));
  const swapped = join(dir, "swapped.cbor.zst");
  writeFileSync(swapped, concat([slice(a.bytes, a.header), s2!, s1!, s3!, slice(a.bytes, a.seal!)]));
  const r = dmrec("verify", swapped);
  expect(r.code).toBe(11);
  expect(r.stdout).toMatch(/segment/);

  expect(dmrec("verify", join(dir, "missing.cbor.zst")).code).toBe(3);
});
