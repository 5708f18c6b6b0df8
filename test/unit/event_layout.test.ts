// The C structs (as compiled into the committed object's BTF) and the
// TypeScript mirror must agree field by field; so must the enums in dmrec.h.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  COUNTERS,
  DMREC_CGROUP_NAME_LEN,
  DMREC_COMM_LEN,
  DMREC_KNAME_LEN,
  DMREC_NAME_BUF,
  DMREC_PATH_BUF,
  DMREC_TAIL_MAX,
  EVENT_FIXED,
  EXE_FLAGS,
  HOOK_IDS,
  STRUCTS,
} from "../../src/kernel/layout.ts";

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
}

function loadBtf(object: string): Map<number, BtfType> {
  const out = Bun.spawnSync(["bpftool", "btf", "dump", "file", object, "format", "raw", "-j"]);
  if (out.exitCode !== 0) throw new Error(`bpftool failed: ${out.stderr.toString()}`);
  const types = (JSON.parse(out.stdout.toString()) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(btf: Map<number, BtfType>, id: number): number {
  const t = btf.get(id)!;
  switch (t.kind) {
    case "INT":
    case "STRUCT":
    case "UNION":
    case "ENUM":
      return t.size!;
    case "TYPEDEF":
    case "CONST":
    case "VOLATILE":
      return sizeOf(btf, t.type_id!);
    case "ARRAY":
      return t.nr_elems! * sizeOf(btf, t.type_id!);
    default:
      throw new Error(`unexpected BTF kind ${t.kind}`);
  }
}

// Both architectures' objects: user space reads either with the same mirror.
describe.each(["bpf/dmrec.bpf.o", "bpf/dmrec.arm64.bpf.o"])("the structs user space reads or writes, in %s", (object) => {
  const btf = loadBtf(object);
  for (const [name, layout] of Object.entries(STRUCTS)) {
    test(`struct ${name}: the fields of STRUCTS, at the same offsets and sizes, and its size`, () => {
      const struct = [...btf.values()].find((t) => t.kind === "STRUCT" && t.name === name);
      expect(struct).toBeDefined();
      const fromC = struct!.members!.map((m) => ({ name: m.name, offset: m.bits_offset / 8, size: sizeOf(btf, m.type_id) }));
      const fromTs = Object.entries(layout.fields).map(([field, f]) => ({ name: field, offset: f.offset, size: f.size }));
      expect(fromTs).toEqual(fromC);
      expect(struct!.size).toBe(layout.size);
    });
  }

  test("a record's fixed part ends where its tail starts", () => {
    expect(EVENT_FIXED).toBe(STRUCTS.dmrec_event.size - DMREC_TAIL_MAX);
  });
});

describe("dmrec.h constants", () => {
  const header = readFileSync("bpf/dmrec.h", "utf8");
  const constant = (name: string) => {
    const m = new RegExp(`${name}\\s*=?\\s*(\\d+)`).exec(header);
    if (!m) throw new Error(`${name} not found in dmrec.h`);
    return Number(m[1]);
  };

  test("buffer sizes", () => {
    expect(constant("#define DMREC_NAME_BUF")).toBe(DMREC_NAME_BUF);
    expect(constant("#define DMREC_COMM_LEN")).toBe(DMREC_COMM_LEN);
    expect(constant("#define DMREC_KNAME_LEN")).toBe(DMREC_KNAME_LEN);
    expect(constant("#define DMREC_CGROUP_NAME_LEN")).toBe(DMREC_CGROUP_NAME_LEN);
    expect(constant("#define DMREC_PATH_BUF")).toBe(DMREC_PATH_BUF);
  });

  test("executable flags", () => {
    expect(constant("DMREC_EXE_NONE")).toBe(EXE_FLAGS.none);
    expect(constant("DMREC_EXE_DELETED")).toBe(EXE_FLAGS.deleted);
    expect(constant("DMREC_EXE_TRUNCATED")).toBe(EXE_FLAGS.truncated);
    expect(constant("DMREC_EXE_UNREACHABLE")).toBe(EXE_FLAGS.unreachable);
  });

  test("hook ids", () => {
    expect(HOOK_IDS[constant("DMREC_HOOK_KPROBE") as 1]).toBe("kprobe");
    expect(HOOK_IDS[constant("DMREC_HOOK_TRACEPOINT") as 2]).toBe("tracepoint");
    expect(HOOK_IDS[constant("DMREC_HOOK_RAW_SYSCALLS") as 3]).toBe("raw-syscalls");
  });

  test("loss counter indexes", () => {
    expect(constant("DMREC_LOST_RINGBUF")).toBe(COUNTERS.ringbuf_full);
    expect(constant("DMREC_LOST_INFLIGHT")).toBe(COUNTERS.inflight_full);
    expect(constant("DMREC_LOST_NO_EXIT")).toBe(COUNTERS.no_exit);
  });
});

test("the committed object is current with its sources", () => {
  const sources = ["bpf/dmrec.bpf.c", "bpf/dmrec.h", "bpf/vmlinux.h"].map((f) => readFileSync(f));
  const hash = new Bun.CryptoHasher("sha256");
  for (const s of sources) hash.update(s);
  expect(readFileSync("bpf/dmrec.bpf.o.sha256", "utf8").trim()).toBe(hash.digest("hex"));
});
