// Every case of the TOCTOU verdict table in docs/FORMAT.md, plus the names
// and numbers decoded for every documented delete_module result and flag.
import { describe, expect, test } from "bun:test";
import { containerIdFromCgroup } from "../../src/container.ts";
import type { ToctouReason } from "../../src/event.ts";
import { errnoName, errnoValue, flagsNames } from "../../src/names.ts";
import { KERNEL_NAME_MAX, toctouVerdict } from "../../src/toctou.ts";

const b = (s: string) => new TextEncoder().encode(s);
const long = "m".repeat(60); // longer than the kernel's 55-byte copy

describe("toctouVerdict (docs/FORMAT.md, the verdict table)", () => {
  const cases: [string, Uint8Array | null, Uint8Array | null, Uint8Array | null, boolean | null, ToctouReason[]][] = [
    ["all three equal", b("dummy"), b("dummy"), b("dummy"), false, []],
    ["entry and exit equal, kernel not seen", b("dummy"), b("dummy"), null, false, []],
    ["entry differs from exit, kernel not seen", b("dummy"), b("evil"), null, true, ["entry!=exit"]],
    ["rewritten after the kernel's copy (fools exit readers)", b("dummy"), b("evil"), b("dummy"), true, ["entry!=exit", "exit!=kernel"]],
    ["rewritten before the kernel's copy (fools entry readers)", b("dummy"), b("evil"), b("evil"), true, ["entry!=exit", "entry!=kernel"]],
    ["flipped and flipped back: only the kernel saw the other name", b("dummy"), b("dummy"), b("evil"), true, ["entry!=kernel", "exit!=kernel"]],
    ["entry read failed, exit equals kernel: unknown", null, b("dummy"), b("dummy"), null, []],
    ["exit read failed, entry equals kernel: unknown", b("dummy"), null, b("dummy"), null, []],
    ["entry read failed, exit differs from kernel", null, b("evil"), b("dummy"), true, ["exit!=kernel"]],
    ["both reads failed", null, null, null, null, []],
    ["both reads failed, kernel seen", null, null, b("dummy"), null, []],
    ["a long name the kernel cut to 55 bytes is not a TOCTOU", b(long), b(long), b(long.slice(0, KERNEL_NAME_MAX)), false, []],
    ["a long name whose tail changed: entry!=exit only", b(long), b(long.slice(0, 59) + "X"), b(long.slice(0, KERNEL_NAME_MAX)), true, ["entry!=exit"]],
    ["a long name whose head changed", b(long), b(long), b("X" + long.slice(1, KERNEL_NAME_MAX)), true, ["entry!=kernel", "exit!=kernel"]],
    ["empty names", b(""), b(""), b(""), false, []],
    ["a prefix is not equal", b("dumm"), b("dummy"), null, true, ["entry!=exit"]],
  ];
  for (const [what, entry, exit, kernel, toctou, reasons] of cases) {
    test(what, () => {
      expect(toctouVerdict(entry, exit, kernel)).toEqual({ toctou, toctou_reason: reasons });
    });
  }
});

describe("containerIdFromCgroup", () => {
  const id = "0123456789abcdef".repeat(4);
  for (const leaf of [`docker-${id}.scope`, `cri-containerd-${id}.scope`, `crio-${id}.scope`, `libpod-${id}.scope`, id]) {
    test(leaf.replace(id, "<id>"), () => expect(containerIdFromCgroup(leaf)).toBe(id));
  }
  for (const leaf of ["", "/", "user.slice", "session-3.scope", `docker-${id.slice(1)}.scope`, `docker-${id.toUpperCase()}.scope`]) {
    test(`no id in ${JSON.stringify(leaf)}`, () => expect(containerIdFromCgroup(leaf)).toBeNull());
  }
});

describe("every documented result of delete_module (KERNEL.md) has its name", () => {
  const results: [number, string | null][] = [
    [0, null], [-1, "EPERM"], [-14, "EFAULT"], [-4, "EINTR"], [-2, "ENOENT"], [-11, "EAGAIN"], [-16, "EBUSY"], [-38, "ENOSYS"],
  ];
  for (const [ret, name] of results) test(`${ret} -> ${name}`, () => expect(errnoName(ret)).toBe(name));
  test("EWOULDBLOCK is EAGAIN; unknown values keep their number", () => {
    expect(errnoValue("EWOULDBLOCK")).toBe(11);
    expect(errnoValue("ewouldblock")).toBe(11);
    expect(errnoName(-4095)).toBe("E4095");
  });
});

describe("flags", () => {
  test("rmmod's O_NONBLOCK|O_EXCL, the force bit, and bits without a name", () => {
    expect(flagsNames(0)).toEqual([]);
    expect(flagsNames(0o4000 | 0o200)).toEqual(["O_EXCL", "O_NONBLOCK"]);
    expect(flagsNames(0o1000)).toEqual(["O_TRUNC"]);
    expect(flagsNames(0o4000 | 0o200 | 0o1000)).toEqual(["O_EXCL", "O_TRUNC", "O_NONBLOCK"]);
    expect(flagsNames(0x80000000 | 0o4000)).toEqual(["O_NONBLOCK", "0x80000000"]);
    expect(flagsNames(0xffffffff)).toContain("O_TRUNC");
  });
});
