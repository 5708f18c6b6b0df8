// With no capture named, the offline commands read ./capture.cbor.zst and the
// rest of its rotation set, as `dmrec record` wrote them. A capture directory
// is where an attacker plants files: a symlink, another user's file or another
// recording's file at a set member's name is passed over and said so.
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, copyFileSync, mkdirSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { defaultCaptureSet, NoDefaultCaptureError } from "../../src/capture/default_set.ts";
import { ExitCode } from "../../src/errors.ts";
import { ROOT, tempDir } from "../support/captures.ts";

const temp = tempDir("dmrec-default-");
afterAll(temp.cleanup);

const SET = ["rotated.cbor.zst", "rotated.000002.cbor.zst", "rotated.000003.cbor.zst"].map((f) => join(ROOT, "fixtures", f));
const OTHER = join(ROOT, "fixtures", "small.cbor.zst");

/** A directory holding the rotated fixture set under record's default names. */
function captureDir(): string {
  const dir = temp.path("dir");
  mkdirSync(dir);
  copyFileSync(SET[0]!, join(dir, "capture.cbor.zst"));
  copyFileSync(SET[1]!, join(dir, "capture.000002.cbor.zst"));
  copyFileSync(SET[2]!, join(dir, "capture.000003.cbor.zst"));
  return dir;
}

function dmrec(cwd: string, args: string[]) {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), ...args], { cwd });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("defaultCaptureSet", () => {
  test("capture.cbor.zst and its rotated files, in set order (not name order)", () => {
    const dir = captureDir();
    copyFileSync(SET[2]!, join(dir, "capture.1000000.cbor.zst"));
    rmSync(join(dir, "capture.000003.cbor.zst"));
    const set = defaultCaptureSet(dir);
    expect(set.files).toEqual(["capture.cbor.zst", "capture.000002.cbor.zst", "capture.1000000.cbor.zst"].map((f) => join(dir, f)));
    expect(set.passedOver).toEqual([]);
  });

  test("nothing there: one error naming ./capture.cbor.zst, exit 3", () => {
    const dir = temp.path("empty");
    mkdirSync(dir);
    expect(() => defaultCaptureSet(dir)).toThrow(NoDefaultCaptureError);
    expect(() => defaultCaptureSet(dir)).toThrow(`no capture named and ${join(dir, "capture.cbor.zst")} does not exist`);
    const r = dmrec(dir, ["query", "--module", "foo"]);
    expect(r.stderr).toBe("dmrec: no capture named and ./capture.cbor.zst does not exist (name a capture, or - for standard input)\n");
    expect(r.code).toBe(ExitCode.badInput);
    expect(r.stdout).toBe("");
  });

  test("a planted symlink, another user's file and a directory are passed over", () => {
    const dir = captureDir();
    symlinkSync(OTHER, join(dir, "capture.000004.cbor.zst"));
    copyFileSync(SET[2]!, join(dir, "capture.000005.cbor.zst"));
    chownSync(join(dir, "capture.000005.cbor.zst"), 1000, 1000);
    mkdirSync(join(dir, "capture.000006.cbor.zst"));
    const set = defaultCaptureSet(dir, 0);
    expect(set.files).toHaveLength(3);
    expect(set.passedOver).toEqual([
      { file: join(dir, "capture.000004.cbor.zst"), why: "a symlink" },
      { file: join(dir, "capture.000005.cbor.zst"), why: "owned by uid 1000, neither root nor you" },
      { file: join(dir, "capture.000006.cbor.zst"), why: "not a regular file" },
    ]);
    // The user's own files are theirs to read.
    expect(defaultCaptureSet(dir, 1000).files).toContain(join(dir, "capture.000005.cbor.zst"));
  });

  test("another recording's file at a set member's name is passed over", () => {
    const dir = captureDir();
    copyFileSync(OTHER, join(dir, "capture.000004.cbor.zst"));
    const set = defaultCaptureSet(dir);
    expect(set.files).toHaveLength(3);
    expect(set.passedOver).toHaveLength(1);
    expect(set.passedOver[0]!.why).toMatch(/^of another recording \(set [0-9a-f-]{36}, not [0-9a-f-]{36}\)$/);
  });

  test("--max-files deleted capture.cbor.zst: the set of the newest file", () => {
    const dir = captureDir();
    unlinkSync(join(dir, "capture.cbor.zst"));
    copyFileSync(OTHER, join(dir, "capture.000002.cbor.zst"));
    copyFileSync(OTHER, join(dir, "capture.000001.cbor.zst"));
    const set = defaultCaptureSet(dir);
    expect(set.files).toEqual([join(dir, "capture.000003.cbor.zst")]);
    // capture.000001.cbor.zst is no member's name (file 1 is capture.cbor.zst): not even looked at.
    expect(set.passedOver.map((p) => p.file)).toEqual([join(dir, "capture.000002.cbor.zst")]);
  });

  test("only untrusted files: the error names each and why", () => {
    const dir = temp.path("planted");
    mkdirSync(dir);
    symlinkSync(OTHER, join(dir, "capture.cbor.zst"));
    expect(() => defaultCaptureSet(dir)).toThrow(`no file of ${join(dir, "capture.cbor.zst")}'s set can be trusted: ${join(dir, "capture.cbor.zst")} (a symlink)`);
  });
});

describe("the commands without a file", () => {
  const dir = captureDir();
  symlinkSync(OTHER, join(dir, "capture.000004.cbor.zst"));
  const passed = "dmrec: passing over capture.000004.cbor.zst: a symlink (name it to read it)\n";
  const named = ["capture.cbor.zst", "capture.000002.cbor.zst", "capture.000003.cbor.zst"];

  const commands = [
    ["query", "--format", "jsonl"],
    ["query", "--module", "xfs", "--format", "json"],
    ["export", "--format", "csv"],
    ["stats", "--json"],
    ["info", "--json"],
    ["verify", "--json"],
  ];
  test.each(commands.map((c) => [c.join(" "), c] as const))("dmrec %s reads what naming the set reads, and says what it passed over", (_label, args) => {
    const implicit = dmrec(dir, args);
    const explicit = dmrec(dir, [args[0]!, ...named, ...args.slice(1)]);
    expect(implicit.stdout).toBe(explicit.stdout);
    // Not an empty answer that both agree on: the events, or the set's last file.
    expect(implicit.stdout).toMatch(/xfs|capture\.000003/);
    expect(implicit.stderr).toBe(passed + explicit.stderr);
    expect(implicit.code).toBe(explicit.code);
    expect(implicit.code).toBe(ExitCode.ok);
  });
});
