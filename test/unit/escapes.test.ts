// What info and verify print can be steered by no capture: every text that
// comes from a file (host names, the kernel release, the set id, unknown
// frame types, keys in error messages) is escaped as query escapes names, so
// a crafted header cannot print control sequences or fake lines ("seal
// present", "signature valid"). And info's size is the file's, however far
// reading got.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { infoText } from "../../src/commands/info.ts";
import { captureInfo } from "../../src/info.ts";
import { verifyCapture } from "../../src/verify/file.ts";
import { verifyCaptures } from "../../src/verify/sets.ts";
import { reportLines } from "../../src/verify/text.ts";
import { anatomy, concat, header, skippableFrame, tempDir, withPair, writeCapture } from "../support/captures.ts";
import { makeEvent } from "../support/events.ts";

const temp = tempDir("dmrec-escapes-");
afterAll(temp.cleanup);

/** What an attacker puts in a header: a line that pretends the file is sealed and signed, and hides what follows. */
const FAKE = "host1\nseal         present, final hash 00\nsignature    Ed25519 by aa (checked)\x1b[8m\r\u009b2J";
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/;

/** An unsealed capture (a crash) whose header carries FAKE everywhere text goes. */
function forged(): string {
  const path = temp.path();
  const w = writeCapture(path, [makeEvent()], {
    header: {
      ...header,
      dmrec_version: FAKE,
      host: { hostname: FAKE, kernel: FAKE, boot_id: FAKE, arch: FAKE },
      set: { ...header.set, id: FAKE },
    },
  });
  const bytes = new Uint8Array(readFileSync(path));
  writeFileSync(path, bytes.subarray(0, anatomy(bytes).seal!.offset));
  return w.path;
}

describe("info", () => {
  test("header text is escaped: no control characters, no line of its own, the real seal line once", () => {
    const text = infoText(captureInfo(forged()));
    expect(text).not.toMatch(CONTROL);
    const lines = text.trimEnd().split("\n");
    expect(lines.filter((l) => l.startsWith("seal "))).toEqual(["seal         absent: the recorder did not close this file cleanly"]);
    expect(lines.filter((l) => l.startsWith("signature "))).toEqual([
      expect.stringMatching(/^signature    each segment by a forward-secure key chain from first key [0-9a-f]{64} \(checked by dmrec verify --pin or --pubkey\)$/),
    ]);
    expect(lines.find((l) => l.startsWith("host "))).toBe(
      "host         host1\\x0aseal         present, final hash 00\\x0asignature    Ed25519 by aa (checked)\\x1b[8m\\x0d\\xc2\\x9b2J, kernel host1\\x0aseal" +
        "         present, final hash 00\\x0asignature    Ed25519 by aa (checked)\\x1b[8m\\x0d\\xc2\\x9b2J, host1\\x0aseal         present, final hash 00\\x0asignature" +
        "    Ed25519 by aa (checked)\\x1b[8m\\x0d\\xc2\\x9b2J, boot host1\\x0aseal         present, final hash 00\\x0asignature    Ed25519 by aa (checked)\\x1b[8m\\x0d\\xc2\\x9b2J",
    );
  });

  test("the size is the file's when reading stops early: garbage after the frames, a cut frame", () => {
    const path = temp.path();
    writeCapture(path, [makeEvent()]);
    appendFileSync(path, new Uint8Array(1000).fill(0x41));
    const info = captureInfo(path);
    expect(info.damage?.problem).toMatch(/^not a zstd frame/);
    expect(info.bytes).toBe(statSync(path).size);
    expect(infoText(info)).toContain(`(${statSync(path).size} bytes)`);
    const cut = temp.path();
    writeFileSync(cut, readFileSync(path).subarray(0, 700));
    expect(captureInfo(cut).bytes).toBe(700);
  });
});

describe("verify", () => {
  test("a set id with control characters is escaped in set messages", () => {
    const a = forged();
    const other = temp.path();
    writeCapture(other, [makeEvent({ pid: 1 })], { header: { ...header, set: { ...header.set, id: FAKE } } });
    const lines = reportLines(verifyCaptures([a, other]));
    expect(lines.join("\n")).not.toMatch(CONTROL);
    expect(lines.some((l) => l.includes("set host1\\x0aseal         present"))).toBe(true);
    expect(lines.filter((l) => l.startsWith(a) && /OK|signature valid/.test(l))).toEqual([]);
  });

  test("an unknown frame type and a crafted key are named only when plain, and never raw", () => {
    const path = temp.path();
    writeCapture(path, [makeEvent()]);
    const bytes = new Uint8Array(readFileSync(path));
    const seal = anatomy(bytes).seal!;
    const evil = new TextEncoder().encode("x\n\x1b[2J");
    const unknown = new Uint8Array([0xa1, 0x64, ...new TextEncoder().encode("type"), 0x60 | evil.length, ...evil]);
    const key = [0x60 | evil.length, ...evil];
    const crafted = withPair(withPair(new Uint8Array([0xa1, 0x61, 0x6b, 0x01]), key, [0x01]), key, [0x02]);
    writeFileSync(path, concat([bytes.subarray(0, seal.offset), skippableFrame(unknown), skippableFrame(crafted), bytes.subarray(seal.offset)]));
    const messages = verifyCapture(path).problems.map((p) => p.message);
    expect(messages.join("\n")).not.toMatch(CONTROL);
    expect(messages).toContain(`${path}: byte ${seal.offset}: a dmrec frame of unknown type (6 characters, not shown)`);
    expect(messages.some((m) => m.includes("CBOR: key (6 characters, not shown) given twice in one map"))).toBe(true);
    expect(messages.every((m) => !m.includes("\n"))).toBe(true);
  });
});
