import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { toHex } from "../../src/bytes.ts";
import { CaptureWriter } from "../../src/capture/writer.ts";
import type { AggregateRecord, CaptureHeader, ClockRecord, DmrecEvent, LossRecord, SegmentItem, SegmentInfo } from "../../src/event.ts";
import { DamagedInputError, UsageError } from "../../src/errors.ts";
import { escapeBytes } from "../../src/query/escape.ts";
import { type FilterOptions, keeps, matches, parseFilter, type QueryItem, segmentMayMatch } from "../../src/query/filter.ts";
import {
  AGGREGATE_KEYS,
  createRenderer,
  CSV_KEYS,
  type Format,
  LOSS_KEYS,
  RECORD_KEYS,
  type RenderOptions,
  toJsonRecord,
} from "../../src/query/render.ts";
import { mergedItems, mergedRecords } from "../../src/query/merge.ts";
import { REORDER_WINDOW, REORDER_WINDOW_BYTES, ReorderWindow } from "../../src/query/reorder.ts";
import { dateToNs, nsToIso, parseIsoNs } from "../../src/query/time.ts";
import { FIXED_NOW, header, ROOT, tempDir } from "../support/captures.ts";
import { latin1, makeAggregate, makeClock, makeEvent, makeOverflowAggregate, makeProcessAggregate } from "../support/events.ts";

const NOW = new Date("2026-11-26T12:00:00Z");
const NOW_NS = 1795694400n * 1_000_000_000n;
const S = 1_000_000_000n;

function keep<T extends QueryItem>(opts: FilterOptions, items: T[]): T[] {
  const f = parseFilter(opts, NOW);
  return items.filter((it) => matches(f, it));
}

function usageMessage(opts: FilterOptions): string {
  try {
    parseFilter(opts, NOW);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no UsageError for ${JSON.stringify(opts)}`);
}

function render(format: Format, items: SegmentItem[], options?: RenderOptions): string {
  let out = "";
  const r = createRenderer(format, (chunk) => (out += chunk), options);
  for (const it of items) r.item(it);
  r.end();
  return out;
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

describe("time", () => {
  test("nsToIso is exact to the ns and cuts rather than rounds", () => {
    expect(nsToIso(1764118674123456789n)).toBe("2025-11-26T00:57:54.123456789Z");
    expect(nsToIso(1764118674123456789n, 6)).toBe("2025-11-26T00:57:54.123456Z");
    expect(nsToIso(1764118674999999999n, 0)).toBe("2025-11-26T00:57:54Z");
    expect(nsToIso(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
    expect(nsToIso(0xffffffffffffffffn)).toBe("2554-07-21T23:34:33.709551615Z");
  });

  test("parseIsoNs round-trips nsToIso and knows zones and the calendar", () => {
    for (const ns of [0n, 1764118674123456789n, -1n, 951782400n * S + 1n]) {
      expect(parseIsoNs(nsToIso(ns))).toEqual({ ok: true, ns });
    }
    expect(parseIsoNs("2026-11-26T12:00:00+02:00")).toEqual({ ok: true, ns: NOW_NS - 2n * 3600n * S });
    expect(parseIsoNs("2026-11-26T12:00-0130")).toEqual({ ok: true, ns: NOW_NS + 5400n * S });
    expect(parseIsoNs("2026-11-26 12:00:00.5")).toEqual({ ok: true, ns: NOW_NS + S / 2n });
    expect(parseIsoNs("2024-02-29")).toEqual({ ok: true, ns: 1709164800n * S });
    expect(parseIsoNs("2026-02-29")).toEqual({ ok: false, problem: "2026-02-29 is not a calendar date" });
    expect(parseIsoNs("2026-11-26T24:00:00Z")).toEqual({ ok: false, problem: "hour 24 is out of range" });
    expect(parseIsoNs("2026-11-26T10:00:00.1234567891Z")).toEqual({ ok: false, problem: null });
    expect(parseIsoNs("2026-11-26Z")).toEqual({ ok: false, problem: null });
    expect(dateToNs(NOW)).toBe(NOW_NS);
  });
});

describe("filter: --module", () => {
  const named = (...names: (string | null)[]) => names.map((n) => makeEvent({ name: n === null ? null : latin1(n) }));
  const names = (evs: DmrecEvent[]) => evs.map((e) => (e.name === null ? null : escapeBytes(e.name)));
  const evs = named("dummy", "dummy2", "nf_tables", "nf_nat", "xfs", "ev\x80il", "a\\b", "a*b", null, "");

  test("no options keeps everything, null name included", () => {
    expect(keep({}, evs)).toHaveLength(evs.length);
    expect(keep({ module: [] }, evs)).toHaveLength(evs.length);
  });

  test("exact name, not a prefix", () => {
    expect(names(keep({ module: ["dummy"] }, evs))).toEqual(["dummy"]);
    expect(names(keep({ module: [""] }, evs))).toEqual([""]);
  });

  test("globs: *, ?, [...], [!...], ranges; several values OR", () => {
    expect(names(keep({ module: ["nf_*"] }, evs))).toEqual(["nf_tables", "nf_nat"]);
    expect(names(keep({ module: ["dumm?"] }, evs))).toEqual(["dummy"]);
    expect(names(keep({ module: ["dummy[0-9]"] }, evs))).toEqual(["dummy2"]);
    expect(names(keep({ module: ["[!dn]*"] }, evs))).toEqual(["xfs", "ev\\x80il", "a\\\\b", "a*b"]);
    expect(names(keep({ module: ["[^a-w]*"] }, evs))).toEqual(["xfs"]);
    expect(names(keep({ module: ["xfs", "*nat"] }, evs))).toEqual(["nf_nat", "xfs"]);
    expect(names(keep({ module: ["*"] }, evs))).toHaveLength(evs.length - 1);
  });

  test("a null name matches nothing", () => {
    expect(keep({ module: ["*"] }, named(null))).toEqual([]);
  });

  test("non-UTF-8 bytes match through the escapes the output shows", () => {
    expect(names(keep({ module: ["ev\\x80il"] }, evs))).toEqual(["ev\\x80il"]);
    expect(names(keep({ module: ["ev\\X80il"] }, evs))).toEqual([]);
    expect(names(keep({ module: ["ev?il"] }, evs))).toEqual(["ev\\x80il"]);
    expect(names(keep({ module: ["*[\\x80-\\xff]*"] }, evs))).toEqual(["ev\\x80il"]);
    // The output form of a name without glob characters can be pasted back as a pattern.
    for (const ev of evs.filter((e) => e.name !== null && !/[*?[]/.test(escapeBytes(e.name)))) {
      expect(keep({ module: [escapeBytes(ev.name!)] }, evs)).toEqual([ev]);
    }
  });

  test("backslash escapes make metacharacters literal", () => {
    expect(names(keep({ module: ["a\\\\b"] }, evs))).toEqual(["a\\\\b"]);
    expect(names(keep({ module: ["a\\*b"] }, evs))).toEqual(["a*b"]);
    expect(names(keep({ module: ["a*b"] }, evs))).toEqual(["a\\\\b", "a*b"]);
  });

  test("a non-ASCII character in a pattern is its UTF-8 bytes", () => {
    const evs2 = [makeEvent({ name: new TextEncoder().encode("café") })];
    expect(keep({ module: ["café"] }, evs2)).toHaveLength(1);
    expect(keep({ module: ["caf\\xc3\\xa9"] }, evs2)).toHaveLength(1);
    expect(keep({ module: ["caf?"] }, evs2)).toHaveLength(0);
    expect(keep({ module: ["caf??"] }, evs2)).toHaveLength(1);
  });

  test("many stars do not blow up", () => {
    const long = makeEvent({ name: latin1("a".repeat(4000)) });
    const t0 = performance.now();
    expect(keep({ module: [`${"*a".repeat(50)}*b`] }, [long])).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("bad patterns are UsageErrors naming the option and pattern", () => {
    expect(usageMessage({ module: ["nf_[abc"] })).toBe('--module: "[" without "]" in pattern "nf_[abc"');
    expect(usageMessage({ module: ["x\\"] })).toBe('--module: "\\" at the end in pattern "x\\\\"');
    expect(usageMessage({ module: ["x\\x8"] })).toBe('--module: "\\x" without two hex digits in pattern "x\\\\x8"');
    expect(usageMessage({ module: ["[z-a]"] })).toBe('--module: reversed range "z-a" in pattern "[z-a]"');
    expect(usageMessage({ comm: ["[é]"] })).toStartWith('--comm: "[...]" with a character that is not one byte');
  });
});

describe("filter: ids, comm, forced", () => {
  const evs = [
    makeEvent({ pid: 10, tid: 11, ppid: 1, uid: 0, comm: "rmmod" }),
    makeEvent({ pid: 11, tid: 12, ppid: 10, uid: 1000, comm: "modprobe" }),
    makeEvent({ pid: 20, tid: 20, ppid: 10, uid: 1000, comm: latin1("bad\xffcomm"), forced: true }),
  ];
  const pids = (opts: FilterOptions) => keep(opts, evs).map((e) => e.pid);

  test("--pid is the process id, not the thread id; several OR", () => {
    expect(pids({ pid: [11] })).toEqual([11]);
    expect(pids({ pid: [10, 20] })).toEqual([10, 20]);
    expect(pids({ pid: ["20"] })).toEqual([20]);
    expect(pids({ pid: [99] })).toEqual([]);
  });

  test("--ppid, --uid, --forced", () => {
    expect(pids({ ppid: [10] })).toEqual([11, 20]);
    expect(pids({ uid: [0] })).toEqual([10]);
    expect(pids({ forced: true })).toEqual([20]);
    expect(pids({ forced: false })).toEqual([10, 11, 20]);
  });

  test("--toctou keeps only events whose verdict is true (not unknown)", () => {
    const verdicts = [
      makeEvent({ pid: 1, toctou: true, toctou_reason: ["entry!=exit"] }),
      makeEvent({ pid: 2, toctou: false }),
      makeEvent({ pid: 3, toctou: null }),
    ];
    expect(keep({ toctou: true }, verdicts).map((e) => e.pid)).toEqual([1]);
    expect(keep({ toctou: false }, verdicts).map((e) => e.pid)).toEqual([1, 2, 3]);
  });

  test("--comm exact or glob, on text or raw bytes", () => {
    expect(pids({ comm: ["rmmod"] })).toEqual([10]);
    expect(pids({ comm: ["*mod*"] })).toEqual([10, 11]);
    expect(pids({ comm: ["bad\\xffcomm"] })).toEqual([20]);
    expect(pids({ comm: ["mod"] })).toEqual([]);
  });

  test("bad ids are UsageErrors", () => {
    expect(usageMessage({ pid: ["abc"] })).toBe('--pid: "abc" is not a valid id (a whole number >= 0)');
    expect(usageMessage({ pid: [Number.NaN] })).toBe('--pid: "NaN" is not a valid id (a whole number >= 0)');
    expect(usageMessage({ uid: [-1] })).toStartWith("--uid: ");
    expect(usageMessage({ ppid: [1.5] })).toStartWith("--ppid: ");
    expect(usageMessage({ pid: ["0x10"] })).toStartWith("--pid: ");
  });
});

describe("filter: --result", () => {
  const evs = [0, -2, -11, -16, -123].map((ret) => makeEvent({ ret }));
  const rets = (result: string) => keep({ result }, evs).map((e) => e.ret);

  test("ok, failed, errno names in any case, aliases, E<n>", () => {
    expect(rets("ok")).toEqual([0]);
    expect(rets("OK")).toEqual([0]);
    expect(rets("failed")).toEqual([-2, -11, -16, -123]);
    expect(rets("ENOENT")).toEqual([-2]);
    expect(rets("ebusy")).toEqual([-16]);
    expect(rets("ewouldblock")).toEqual([-11]);
    expect(rets("EAGAIN")).toEqual([-11]);
    expect(rets("E123")).toEqual([-123]);
    expect(rets("EPERM")).toEqual([]);
  });

  test("anything else is a UsageError", () => {
    const hint = "(use ok, failed or an errno name like ENOENT)";
    expect(usageMessage({ result: "nope" })).toBe(`--result: unknown value "nope" ${hint}`);
    expect(usageMessage({ result: "-2" })).toBe(`--result: unknown value "-2" ${hint}`);
    expect(usageMessage({ result: "E0" })).toBe(`--result: unknown value "E0" ${hint}`);
    expect(usageMessage({ result: "" })).toBe(`--result: unknown value "" ${hint}`);
  });
});

describe("filter: --since / --until", () => {
  const at = (ns: bigint) => makeEvent({ ts_ns: ns });
  const T = 1764151200n * S; // 2025-11-26T10:00:00Z
  const evs = [at(T - 1n), at(T), at(T + 1n), at(T + 3600n * S)];
  const times = (opts: FilterOptions) => keep(opts, evs).map((e) => e.ts_ns - T);

  test("ISO: since inclusive, until exclusive, exact to the ns", () => {
    expect(times({ since: "2025-11-26T10:00:00Z" })).toEqual([0n, 1n, 3600n * S]);
    expect(times({ until: "2025-11-26T10:00:00Z" })).toEqual([-1n]);
    expect(times({ since: "2025-11-26T10:00:00.000000001Z", until: "2025-11-26T11:00:00Z" })).toEqual([1n]);
    expect(times({ since: "2025-11-26T10:00:00Z", until: "2025-11-26T10:00:00Z" })).toEqual([]);
  });

  test("ISO without a zone is UTC; offsets and date-only work", () => {
    expect(times({ since: "2025-11-26T10:00:00" })).toEqual([0n, 1n, 3600n * S]);
    expect(times({ since: "2025-11-26T12:00:00+02:00" })).toEqual([0n, 1n, 3600n * S]);
    expect(times({ since: "2025-11-26T10:30" })).toEqual([3600n * S]);
    expect(times({ until: "2025-11-26" })).toEqual([]);
    expect(times({ since: "2025-11-26" })).toHaveLength(4);
  });

  test("relative times count back from now", () => {
    const rel = [at(NOW_NS - 2n * 86400n * S), at(NOW_NS - 7200n * S), at(NOW_NS - 90n * S), at(NOW_NS - 1n)];
    const ago = (opts: FilterOptions) => keep(opts, rel).map((e) => (NOW_NS - e.ts_ns) / S);
    expect(ago({ since: "2h" })).toEqual([7200n, 90n, 0n]);
    expect(ago({ since: "90s" })).toEqual([90n, 0n]);
    expect(ago({ since: "30m" })).toEqual([90n, 0n]);
    expect(ago({ since: "1d", until: "90s" })).toEqual([7200n]);
    expect(ago({ until: "1D" })).toEqual([172800n]);
    expect(ago({ since: "0s" })).toEqual([]);
  });

  test("bad times are UsageErrors", () => {
    expect(usageMessage({ since: "yesterdayish" })).toBe(
      '--since: cannot parse "yesterdayish" (use ISO 8601 like 2026-11-26T10:00:00Z or a relative time like 2h, 30m, 90s, 1d)',
    );
    expect(usageMessage({ until: "2h ago" })).toStartWith('--until: cannot parse "2h ago" (use ISO 8601');
    expect(usageMessage({ until: "-2h" })).toStartWith('--until: cannot parse "-2h"');
    expect(usageMessage({ since: "2026-02-30T10:00:00Z" })).toBe(
      '--since: invalid time "2026-02-30T10:00:00Z": 2026-02-30 is not a calendar date',
    );
    expect(usageMessage({ since: "2026-11-26T10:61Z" })).toBe(
      '--since: invalid time "2026-11-26T10:61Z": minute 61 is out of range',
    );
  });

  test("since later than until is a UsageError", () => {
    expect(usageMessage({ since: "1h", until: "2h" })).toBe(
      '--since "1h" (2026-11-26T11:00:00.000000000Z) is later than --until "2h" (2026-11-26T10:00:00.000000000Z)',
    );
  });
});

describe("filter: options combine with AND", () => {
  test("module and result and pid", () => {
    const evs = [
      makeEvent({ pid: 1, name: latin1("dummy"), ret: 0 }),
      makeEvent({ pid: 1, name: latin1("dummy"), ret: -16 }),
      makeEvent({ pid: 2, name: latin1("dummy"), ret: -16 }),
      makeEvent({ pid: 1, name: latin1("xfs"), ret: -16 }),
    ];
    expect(keep({ module: ["dum*"], result: "EBUSY", pid: [1] }, evs)).toEqual([evs[1]!]);
  });
});

const ODD_NAME = latin1('a\x80b\\c"d\ne,f\x00');
const ODD_TEXT = 'a\\x80b\\\\c"d\\x0ae,f\\x00';

describe("clock records", () => {
  test("every format shows the step; the table as a row of no one's, signed to the ns", () => {
    const back = makeClock({ boot_to_wall_ns: makeClock().old_boot_to_wall_ns - 1_500_000_000n });
    const table = render("table", [makeEvent(), makeClock(), back]);
    expect(table).toContain("clock stepped +3600.000000000s");
    expect(table).toContain("clock stepped -1.500000000s");
    const json = JSON.parse(render("jsonl", [makeClock()]).trim());
    expect(json).toEqual({
      type: "clock", time: "2025-11-26T01:57:54.100000000Z", ts_ns: "1764122274100000000", boot_ns: "5100000000", prev_boot_ns: "5000000000",
      old_boot_to_wall_ns: "1764118669000000000", boot_to_wall_ns: "1764122269000000000", step_ns: "3600000000000",
    });
    const rows = parseCsv(render("csv", [makeEvent(), back]));
    const col = (k: string) => rows[0]!.indexOf(k);
    expect(rows.every((r) => r.length === CSV_KEYS.length)).toBe(true);
    expect([rows[2]![col("type")], rows[2]![col("step_ns")], rows[2]![col("prev_boot_ns")], rows[1]![col("step_ns")]]).toEqual(["clock", "-1500000000", "5000000000", ""]);
  });

  test("kept like loss records: only with the records, only by the time window and --events-only", () => {
    const c = makeClock();
    const f = (o: FilterOptions) => parseFilter(o, NOW);
    expect(keeps(f({ module: ["nosuch"], pid: [1], result: "ok" }), c, true)).toBe(true);
    expect(keeps(f({}), c, false)).toBe(false);
    expect(keeps(f({ eventsOnly: true }), c, true)).toBe(false);
    expect(keeps(f({ since: "2025-11-26T02:00:00Z" }), c, true)).toBe(false);
    expect(keeps(f({ until: "2025-11-26T02:00:00Z" }), c, true)).toBe(true);
  });
});

describe("toJsonRecord", () => {
  test("keys in the SPEC order with time and _hex fields", () => {
    const rec = toJsonRecord(makeEvent());
    expect(Object.keys(rec)).toEqual([
      "type", "time", "ts_ns", "boot_ns", "duration_ns", "hook",
      "pid", "tid", "ppid", "uid", "gid", "euid", "loginuid", "sessionid",
      "comm", "comm_hex", "parent_comm", "parent_comm_hex", "exe",
      "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module", "name_ptr",
      "name_entry", "name_entry_hex", "name_entry_err", "name_exit", "name_exit_hex", "name_exit_err",
      "name_kernel", "name_kernel_hex", "name", "name_hex",
      "flags", "flags_names", "ret", "errno", "freed", "forced", "toctou", "toctou_reason",
      "exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe",
      "argv", "argv_hex", "argv_err", "argv_truncated", "tty",
    ]);
    expect(Object.keys(rec)).toEqual([...RECORD_KEYS]);
  });

  test("capabilities as 16 hex digits, like CapEff in /proc", () => {
    expect(toJsonRecord(makeEvent({ cap_effective: 0x1ff_ffff_ffffn })).cap_effective).toBe("000001ffffffffff");
    expect(toJsonRecord(makeEvent({ cap_effective: 0n })).cap_effective).toBe("0000000000000000");
  });

  test("64-bit values are exact decimal strings that survive JSON", () => {
    const ev = makeEvent({ name_ptr: 0xffffffffffffffffn, cgroup_id: 0x8000000000000001n });
    const back = JSON.parse(JSON.stringify(toJsonRecord(ev)));
    expect(back.ts_ns).toBe("1764118674123456789");
    expect(back.time).toBe("2025-11-26T00:57:54.123456789Z");
    expect(back.name_ptr).toBe("18446744073709551615");
    expect(back.cgroup_id).toBe("9223372036854775809");
    expect(back.boot_ns).toBe("5000000123");
    expect(back.duration_ns).toBe("41234");
    expect(BigInt(back.ts_ns)).toBe(ev.ts_ns);
  });

  test("plain values are kept", () => {
    const rec = toJsonRecord(
      makeEvent({ ret: -2, flags: 0o5200, forced: false, name_exit: null, name_exit_err: -14 }),
    );
    expect(rec).toMatchObject({
      type: "event", hook: "kprobe", pid: 4242, tid: 4243, ppid: 1000, uid: 0,
      ret: -2, errno: "ENOENT", flags: 0o5200, flags_names: ["O_EXCL", "O_TRUNC", "O_NONBLOCK"],
      forced: false, name_exit: null, name_exit_hex: null, name_exit_err: -14, name_entry_err: null,
    });
  });

  test("byte strings are escaped text plus raw hex", () => {
    const rec = toJsonRecord(makeEvent({ name: ODD_NAME, name_kernel: null }));
    expect(rec.name).toBe(ODD_TEXT);
    expect(rec.name_hex).toBe("6180625c6322640a652c6600");
    expect(rec.name_kernel).toBeNull();
    expect(rec.name_kernel_hex).toBeNull();
    expect(JSON.parse(JSON.stringify(rec)).name).toBe(ODD_TEXT);
  });

  test("_hex round-trips every byte value", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const rec = toJsonRecord(makeEvent({ name: all, comm: all.slice(128) }));
    expect(fromHex(rec.name_hex as string)).toEqual(all);
    expect(fromHex(rec.comm_hex as string)).toEqual(all.slice(128));
    expect(toHex(new Uint8Array())).toBe("");
    const text = rec.name as string;
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(text.slice(0x20 * 4, 0x20 * 4 + 3)).toBe(" !\"");
  });

  test("comm is escaped the same way whether it came as text or bytes", () => {
    const asText = toJsonRecord(makeEvent({ comm: "caf\u00e9\u202e" }));
    const asBytes = toJsonRecord(makeEvent({ comm: new TextEncoder().encode("caf\u00e9\u202e") }));
    expect(asText.comm).toBe("caf\\xc3\\xa9\\xe2\\x80\\xae");
    expect(asText.comm_hex).toBe("636166c3a9e280ae");
    expect(asBytes.comm).toBe(asText.comm);
    expect(asBytes.comm_hex).toBe(asText.comm_hex);
  });

  test("the record is a copy", () => {
    const ev = makeEvent();
    const rec = toJsonRecord(ev);
    (rec.flags_names as string[]).push("X");
    expect(ev.flags_names).toEqual(["O_EXCL", "O_NONBLOCK"]);
  });
});

describe("renderers", () => {
  const evs = [makeEvent({ pid: 1 }), makeEvent({ pid: 2, name: ODD_NAME, ret: -2 })];

  test("jsonl: one object per line", () => {
    const lines = render("jsonl", evs).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("");
    expect(lines.slice(0, 2).map((l) => JSON.parse(l))).toEqual(evs.map((e) => toJsonRecord(e)));
    expect(render("jsonl", [])).toBe("");
  });

  test("json: one array, an object per line", () => {
    const out = render("json", evs);
    expect(JSON.parse(out)).toEqual(evs.map((e) => toJsonRecord(e)));
    expect(out.startsWith("[\n{")).toBe(true);
    expect(out.split("\n")).toHaveLength(5);
    expect(out.endsWith("}\n]\n")).toBe(true);
    expect(render("json", [])).toBe("[]\n");
  });

  test("csv: header, CRLF, RFC 4180 quoting, parses back", () => {
    const out = render("csv", evs);
    const lines = out.split("\r\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe(CSV_KEYS.join(","));
    expect(lines[0]).toBe(`${RECORD_KEYS.join(",")},scope,count,last_time,last_ts_ns,last_boot_ns,reason,prev_boot_ns,old_boot_to_wall_ns,boot_to_wall_ns,step_ns`);
    expect(lines[2]).toContain(`,"${ODD_TEXT.replaceAll('"', '""')}",`);
    expect(lines[2]).toContain(",O_EXCL|O_NONBLOCK,-2,ENOENT,false");
    expect(lines[1]).toContain(",0,,true,false");
    expect(lines[1]).toEndWith(",false,,131842,254:1,false,false,false,/usr/bin/bash,rmmod|dummy,726d6d6f64|64756d6d79,,false,pts0,,1,,,,,,,,");
    const rows = parseCsv(out);
    expect(rows).toHaveLength(3);
    const name = rows[0]!.indexOf("name");
    expect(rows[2]![name]).toBe(ODD_TEXT);
    expect(fromHex(rows[2]![name + 1]!)).toEqual(ODD_NAME);
    expect(rows[1]![rows[0]!.indexOf("ts_ns")]).toBe("1764118674123456789");
    expect(render("csv", [])).toBe(`${CSV_KEYS.join(",")}\r\n`);
  });

  test("csv: a name or command a spreadsheet would run as a formula is neutralised; the raw bytes stay in _hex", () => {
    const formulas = ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1+cmd", "-2+3"];
    const rows = parseCsv(
      render(
        "csv",
        formulas.map((f) =>
          makeEvent({ name: latin1(f), name_entry: latin1(f), name_exit: latin1(f), name_kernel: null, comm: f, exe: f, exe_dev: f, parent_exe: f, argv: [latin1(f), latin1("x")], tty: f }),
        ),
      ),
    );
    const col = (k: string) => rows[0]!.indexOf(k);
    formulas.forEach((f, i) => {
      const row = rows[i + 1]!;
      for (const k of ["name", "name_entry", "name_exit", "comm", "exe", "exe_dev", "parent_exe", "tty"]) expect(row[col(k)]).toBe(`'${f}`);
      expect(row[col("argv")]).toBe(`'${f}|x`);
      expect(fromHex(row[col("argv_hex")]!.split("|")[0]!)).toEqual(latin1(f));
      expect(fromHex(row[col("name_hex")]!)).toEqual(latin1(f));
      expect(fromHex(row[col("comm_hex")]!)).toEqual(latin1(f));
    });
    // our own numbers stay numbers, negative or not
    const own = parseCsv(render("csv", [makeEvent({ ret: -2, errno: "ENOENT" })]))[1]!;
    expect(own[col("ret")]).toBe("-2");
    // errno and flag names are text a crafted file makes anything too, in aggregates as in events
    const crafted = parseCsv(render("csv", formulas.flatMap((f) => [makeEvent({ errno: f, flags_names: [f, "O_TRUNC"] }), callAgg({ errno: f, flags_names: [f] })])));
    crafted.slice(1).forEach((row, i) => {
      const f = formulas[i >> 1]!;
      expect([row[col("errno")], row[col("flags_names")]]).toEqual([`'${f}`, i % 2 === 0 ? `'${f}|O_TRUNC` : `'${f}`]);
    });
    // loss rows: nothing from the capture but enums and numbers
    const loss = parseCsv(render("csv", [{ type: "loss", ts_ns: T0, count: 5, reason: "no_exit" }]))[1]!;
    expect([loss[col("type")], loss[col("count")], loss[col("reason")]]).toEqual(["loss", "5", "no_exit"]);
  });

  test("table: aligned columns, escaped names, results and flags", () => {
    const table = [
      makeEvent({ pid: 7, tid: 7, uid: 0, comm: "rmmod", name: latin1("dummy") }),
      makeEvent({
        ts_ns: 1764118675000000999n, pid: 123456, tid: 123457, uid: 1000, comm: "my mod",
        name: latin1("x y\x80<"), flags: 0, ret: -2, hook: "tracepoint",
      }),
      makeEvent({ pid: 42, tid: 43, name: null, name_entry_err: -14, flags: 0o1000, ret: -11 }),
    ];
    expect(render("table", table)).toBe(
      [
        "TIME                            PID     TID  COMM        UID  NAME                 FLAGS              RESULT       HOOK        CALLS",
        "2025-11-26T00:57:54.123456Z       7       7  rmmod         0  dummy                O_EXCL|O_NONBLOCK  ok           kprobe      1",
        "2025-11-26T00:57:55.000000Z  123456  123457  my\\x20mod  1000  x\\x20y\\x80\\x3c       0                  ENOENT(-2)   tracepoint  1",
        "2025-11-26T00:57:54.123456Z      42      43  rmmod         0  <unreadable:EFAULT>  O_TRUNC            EAGAIN(-11)  kprobe      1",
        "",
      ].join("\n"),
    );
  });

  test("table: flag names from a crafted file are escaped like names, one token each", () => {
    const out = render("table", [makeEvent({ flags_names: ["O_TRUNC \x1b[2J", "<any>"] })]);
    expect(out.split("\n")[1]).toContain("  O_TRUNC\\x20\\x1b[2J|\\x3cany>  ");
    expect(out).not.toContain("\x1b");
  });

  test("table: widths come from the first rows; later wider cells are not cut", () => {
    const out = render(
      "table",
      [makeEvent({ name: latin1("a") }), makeEvent({ name: latin1("a-much-longer-name") })],
      { tableSizingRows: 1 },
    );
    expect(out.split("\n")).toEqual([
      "TIME                          PID   TID  COMM   UID  NAME  FLAGS              RESULT  HOOK    CALLS",
      "2025-11-26T00:57:54.123456Z  4242  4243  rmmod    0  a     O_EXCL|O_NONBLOCK  ok      kprobe  1",
      "2025-11-26T00:57:54.123456Z  4242  4243  rmmod    0  a-much-longer-name  O_EXCL|O_NONBLOCK  ok      kprobe  1",
      "",
    ]);
    expect(render("table", []).split("\n")[0]).toBe("TIME  PID  TID  COMM  UID  NAME  FLAGS  RESULT  HOOK  CALLS");
  });

  test("jsonl, json and csv write each event as it comes", () => {
    for (const format of ["jsonl", "json", "csv"] as const) {
      const chunks: string[] = [];
      const r = createRenderer(format, (c) => chunks.push(c));
      r.item(makeEvent());
      const afterOne = chunks.join("");
      expect(afterOne).toContain("1764118674123456789");
      r.item(makeEvent());
      r.end();
      expect(chunks.join("")).toStartWith(afterOne);
    }
  });

  test("table: output starts only once the sizing rows are in", () => {
    const chunks: string[] = [];
    const r = createRenderer("table", (c) => chunks.push(c), { tableSizingRows: 2 });
    r.item(makeEvent());
    expect(chunks).toEqual([]);
    r.item(makeEvent());
    expect(chunks).toHaveLength(3);
    r.item(makeEvent());
    expect(chunks).toHaveLength(4);
    r.end();
    expect(chunks).toHaveLength(4);
  });
});

// Enough RFC 4180 to read our own output back.
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\r" && text[i + 1] === "\n") row.push(field), rows.push(row), (row = []), (field = ""), i++;
    else field += c;
  }
  return rows;
}

describe("segmentMayMatch: the index only rules segments out when it can", () => {
  const seg = (over: Partial<SegmentInfo> = {}): SegmentInfo => ({
    type: "segment", index: 1, events: 3, losses: 0, lost_calls: 0, aggregates: 0, aggregated_calls: 0,
    clock_steps: 0,
    first_ts_ns: 2_000n, last_ts_ns: 3_000n, modules: [latin1("dummy"), latin1("bad\xff")], modules_complete: true, ...over,
  });
  const f = (opts: FilterOptions) => parseFilter(opts, new Date(0));

  test("module names: exact, glob, byte escapes; an incomplete list rules nothing out", () => {
    expect(segmentMayMatch(f({ module: ["dummy"] }), seg())).toBe(true);
    expect(segmentMayMatch(f({ module: ["dum*"] }), seg())).toBe(true);
    expect(segmentMayMatch(f({ module: ["bad\\xff"] }), seg())).toBe(true);
    expect(segmentMayMatch(f({ module: ["nf_tables"] }), seg())).toBe(false);
    expect(segmentMayMatch(f({ module: ["nf_tables"] }), seg({ modules_complete: false }))).toBe(true);
  });

  test("time range: since inclusive, until exclusive, against the segment's smallest and largest ts", () => {
    const at = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
    const s = seg({ first_ts_ns: 2_000_000_000n, last_ts_ns: 3_000_000_000n });
    expect(segmentMayMatch(f({ since: at(3_000_000_000n) }), s)).toBe(true);
    expect(segmentMayMatch(f({ since: at(3_001_000_000n) }), s)).toBe(false);
    expect(segmentMayMatch(f({ until: at(2_000_000_000n) }), s)).toBe(false);
    expect(segmentMayMatch(f({ until: at(2_001_000_000n) }), s)).toBe(true);
  });

  test("without a filter the index covers, no segment is skipped: not even one whose entry says it holds no event", () => {
    // An index entry is unverified: one that says `events: 0` must not hide its segment's events.
    expect(segmentMayMatch(f({}), seg({ events: 0, first_ts_ns: null, last_ts_ns: null, modules: [] }))).toBe(true);
    expect(segmentMayMatch(f({}), seg())).toBe(true);
    expect(segmentMayMatch(f({ pid: [1] }), seg())).toBe(true);
  });
});

// An aggregate of each scope, as the kernel side fills them in: scope process keeps the
// process and errno but no name or arguments, scope all keeps nothing but the span.
const T0 = 1764118674200000000n; // 2025-11-26T00:57:54.2Z, makeAggregate's first call
const callAgg = (over: Partial<AggregateRecord> = {}) => makeAggregate(over);
const processAgg = makeProcessAggregate;
const allAgg = makeOverflowAggregate;

describe("filter: aggregates", () => {
  const aggs = [callAgg(), processAgg(), allAgg()];
  const scopes = (opts: FilterOptions) => keep(opts, aggs).map((a) => a.scope);

  test("no filter keeps every scope; --events-only keeps none and every event", () => {
    expect(scopes({})).toEqual(["call", "process", "all"]);
    expect(scopes({ eventsOnly: true })).toEqual([]);
    expect(keep({ eventsOnly: true }, [makeEvent(), makeEvent({ ret: -2 })])).toHaveLength(2);
  });

  test("--module matches the name; a null name never matches a pattern", () => {
    expect(scopes({ module: ["nosuch"] })).toEqual(["call"]);
    expect(scopes({ module: ["no*"] })).toEqual(["call"]);
    expect(scopes({ module: ["*"] })).toEqual(["call"]);
    expect(scopes({ module: ["dummy"] })).toEqual([]);
  });

  test("--pid, --ppid, --uid, --comm: the first call's; scope all keeps none and never matches", () => {
    expect(scopes({ pid: [5151] })).toEqual(["call", "process"]);
    expect(scopes({ pid: [5152] })).toEqual([]);
    expect(scopes({ ppid: [1000] })).toEqual(["call", "process"]);
    expect(scopes({ uid: [65534] })).toEqual(["call", "process"]);
    expect(scopes({ uid: [0] })).toEqual([]);
    expect(scopes({ comm: ["flood*"] })).toEqual(["call", "process"]);
    expect(scopes({ comm: ["*"] })).toEqual(["call", "process"]);
    expect(keep({ comm: ["fl\\xffod"] }, [callAgg({ comm: latin1("fl\xffod") })])).toHaveLength(1);
  });

  test("--result: failed and errnos match ret; ok never; scope all only without a result filter", () => {
    expect(scopes({ result: "failed" })).toEqual(["call", "process"]);
    expect(scopes({ result: "ENOENT" })).toEqual(["call", "process"]);
    expect(scopes({ result: "EPERM" })).toEqual([]);
    expect(scopes({ result: "ok" })).toEqual([]);
    // even a (malformed) aggregate whose ret is 0 is not a success
    expect(keep({ result: "ok" }, [callAgg({ ret: 0, errno: null })])).toEqual([]);
    expect(keep({ result: "EPERM" }, [processAgg({ ret: -1, errno: "EPERM" })])).toHaveLength(1);
  });

  test("--since/--until: the span [ts_ns, last_ts_ns] overlaps [since, until)", () => {
    const span = [callAgg({ ts_ns: T0, last_ts_ns: T0 + 900_000_000n })];
    const n = (opts: FilterOptions) => keep(opts, span).length;
    expect(n({ since: "2025-11-26T00:57:54.5Z" })).toBe(1); // starts before, ends inside
    expect(n({ since: "2025-11-26T00:57:55.1Z" })).toBe(1); // since == last: inclusive
    expect(n({ since: "2025-11-26T00:57:55.100000001Z" })).toBe(0);
    expect(n({ until: "2025-11-26T00:57:54.2Z" })).toBe(0); // until == first: exclusive
    expect(n({ until: "2025-11-26T00:57:54.200000001Z" })).toBe(1);
    expect(n({ since: "2025-11-26T00:57:54.3Z", until: "2025-11-26T00:57:54.4Z" })).toBe(1); // inside
    expect(n({ since: "2025-11-26T00:57:56Z", until: "2025-11-26T00:57:57Z" })).toBe(0);
  });

  test("--toctou only when toctou is true; --forced never", () => {
    const flagged = callAgg({ toctou: true, toctou_reason: ["entry!=exit"] });
    expect(keep({ toctou: true }, [flagged, ...aggs])).toEqual([flagged]);
    expect(keep({ forced: true }, [flagged, ...aggs])).toEqual([]);
    expect(keep({ forced: false }, [flagged, ...aggs])).toHaveLength(4);
  });

  test("filters combine with AND on aggregates too", () => {
    expect(scopes({ module: ["nosuch"], result: "ENOENT", pid: [5151] })).toEqual(["call"]);
    expect(scopes({ module: ["nosuch"], result: "EPERM" })).toEqual([]);
  });
});

describe("segmentMayMatch with aggregates", () => {
  const seg = (over: Partial<SegmentInfo> = {}): SegmentInfo => ({
    type: "segment", index: 1, events: 2, losses: 0, lost_calls: 0, aggregates: 1, aggregated_calls: 250_000, clock_steps: 0,
    first_ts_ns: 2_000_000_000n, last_ts_ns: 3_000_000_000n, modules: [latin1("dummy")], modules_complete: true, ...over,
  });
  const f = (opts: FilterOptions) => parseFilter(opts, new Date(0));

  test("the index describes events only: module and time cannot rule out a segment with aggregates", () => {
    expect(segmentMayMatch(f({ module: ["nosuch"] }), seg())).toBe(true);
    expect(segmentMayMatch(f({ since: "1970-01-01T00:00:04Z" }), seg())).toBe(true);
    expect(segmentMayMatch(f({ until: "1970-01-01T00:00:01Z" }), seg())).toBe(true);
    expect(segmentMayMatch(f({}), seg({ events: 0, first_ts_ns: null, last_ts_ns: null, modules: [] }))).toBe(true);
  });

  test("--events-only, and files without aggregates (aggregates: 0), use the index as before", () => {
    for (const s of [seg({ aggregates: 0, aggregated_calls: 0 })]) {
      expect(segmentMayMatch(f({ module: ["nosuch"] }), s)).toBe(false);
      expect(segmentMayMatch(f({ since: "1970-01-01T00:00:04Z" }), s)).toBe(false);
    }
    expect(segmentMayMatch(f({ module: ["nosuch"], eventsOnly: true }), seg())).toBe(false);
    expect(segmentMayMatch(f({ eventsOnly: true }), seg({ events: 0, first_ts_ns: null, last_ts_ns: null }))).toBe(true);
  });
});

describe("toJsonRecord: aggregates", () => {
  test("keys: type, scope, count, the span, then the event's identity and name fields", () => {
    const rec = toJsonRecord(callAgg());
    expect(Object.keys(rec)).toEqual([
      "type", "scope", "count", "time", "ts_ns", "last_time", "last_ts_ns", "boot_ns", "last_boot_ns", "hook",
      "pid", "tid", "ppid", "uid", "gid", "euid", "loginuid", "sessionid",
      "comm", "comm_hex", "parent_comm", "parent_comm_hex", "exe",
      "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module", "name_ptr",
      "name_entry", "name_entry_hex", "name_entry_err", "name_exit", "name_exit_hex", "name_exit_err",
      "name_kernel", "name_kernel_hex", "name", "name_hex",
      "flags", "flags_names", "ret", "errno", "toctou", "toctou_reason",
      "exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe",
      "argv", "argv_hex", "argv_err", "argv_truncated", "tty",
    ]);
    expect(Object.keys(rec)).toEqual([...AGGREGATE_KEYS]);
    for (const a of [processAgg(), allAgg()]) expect(Object.keys(toJsonRecord(a))).toEqual([...AGGREGATE_KEYS]);
  });

  test("values exact: 64-bit as decimal strings, capabilities as 16 hex digits, names as for events", () => {
    const agg = callAgg({
      count: 1_000_003, ts_ns: 1764118674123456789n, last_ts_ns: 1764118675987654321n,
      boot_ns: 2n ** 64n - 2n, last_boot_ns: 2n ** 64n - 1n, cgroup_id: 2n ** 63n + 1n,
      name_ptr: 0xffff_ffff_ffff_fff0n, cap_effective: 0x1ff_ffff_ffffn, comm: latin1("fl\xffod"),
      name: ODD_NAME, name_entry: ODD_NAME, name_exit: null, name_exit_err: -14,
    });
    const back = JSON.parse(JSON.stringify(toJsonRecord(agg)));
    expect(back).toMatchObject({
      type: "aggregate", scope: "call", count: 1_000_003,
      time: "2025-11-26T00:57:54.123456789Z", ts_ns: "1764118674123456789",
      last_time: "2025-11-26T00:57:55.987654321Z", last_ts_ns: "1764118675987654321",
      boot_ns: "18446744073709551614", last_boot_ns: "18446744073709551615", hook: "kprobe",
      pid: 5151, uid: 65534, comm: "fl\\xffod", comm_hex: "666cff6f64", parent_comm: "bash",
      cgroup_id: "9223372036854775809", cap_effective: "000001ffffffffff", cap_sys_module: false,
      name_ptr: "18446744073709551600", name: ODD_TEXT, name_hex: toHex(ODD_NAME), name_entry: ODD_TEXT,
      name_exit: null, name_exit_hex: null, name_exit_err: -14, name_kernel: null,
      flags: 0o4000, flags_names: ["O_NONBLOCK"], ret: -2, errno: "ENOENT", toctou: false, toctou_reason: [],
    });
    const ev = toJsonRecord(makeEvent({ comm: latin1("fl\xffod"), name: ODD_NAME }));
    expect([back.comm, back.comm_hex, back.name, back.name_hex]).toEqual([ev.comm, ev.comm_hex, ev.name, ev.name_hex]);
  });

  test("fields a scope does not keep stay null", () => {
    const all = toJsonRecord(allAgg());
    for (const k of AGGREGATE_KEYS) {
      if (["type", "scope", "count", "time", "ts_ns", "last_time", "last_ts_ns", "boot_ns", "last_boot_ns", "hook", "exe",
        "container_id", "name_entry_err", "name_exit_err", "flags_names", "toctou_reason"].includes(k)) continue;
      expect([k, all[k]]).toEqual([k, null]);
    }
    expect(all.flags_names).toEqual([]);
    const proc = toJsonRecord(processAgg());
    expect(proc).toMatchObject({ pid: 5151, comm: "flooder", ret: -2, errno: "ENOENT", name: null, name_hex: null, name_ptr: null, flags: null });
  });
});

describe("renderers: loss records", () => {
  const loss: LossRecord = { type: "loss", ts_ns: T0 + 5n, count: 3, reason: "inflight_full" };

  test("toJsonRecord: type, time, ts_ns exact, count, reason", () => {
    expect(toJsonRecord(loss)).toEqual({ type: "loss", time: "2025-11-26T00:57:54.200000005Z", ts_ns: "1764118674200000005", count: 3, reason: "inflight_full" });
    expect(Object.keys(toJsonRecord(loss))).toEqual([...LOSS_KEYS]);
  });

  test("every format writes them among the other records", () => {
    const items = [makeEvent(), loss, callAgg()];
    expect(render("jsonl", items).trimEnd().split("\n").map((l) => JSON.parse(l).type)).toEqual(["event", "loss", "aggregate"]);
    expect(JSON.parse(render("json", items))[1]).toEqual(toJsonRecord(loss));
    const rows = parseCsv(render("csv", items));
    const head = rows[0]!;
    const row = rows[2]!;
    expect(row).toHaveLength(CSV_KEYS.length);
    for (const [i, k] of head.entries()) expect([k, row[i]]).toEqual([k, ({ type: "loss", time: "2025-11-26T00:57:54.200000005Z", ts_ns: "1764118674200000005", count: "3", reason: "inflight_full" } as Record<string, string>)[k] ?? ""]);
    // `count` sums to every call accounted for: 1 + 3 + 250000
    expect(rows.slice(1).reduce((n, r) => n + Number(r[head.indexOf("count")]), 0)).toBe(250_004);
    expect(render("table", items).split("\n")[2]).toBe(
      "2025-11-26T00:57:54.200000Z  <any>  <any>  <any>    <any>  <any>   <any>              <any>       -       3 lost (inflight_full)",
    );
    expect(render("table", [{ ...loss, reason: "ringbuf_full" }]).split("\n")[1]).toBe(
      "2025-11-26T00:57:54.200000Z  <any>  <any>  <any>  <any>  <any>  <any>  ok      -     3 lost (ringbuf_full)",
    );
  });
});

describe("renderers: events and aggregates interleaved", () => {
  const mixed: QueryItem[] = [
    makeEvent({ pid: 1, ts_ns: T0 - 1n }),
    callAgg({ name: ODD_NAME }),
    makeEvent({ pid: 2, ts_ns: T0 + 1n, ret: -2, name: latin1("nosuch") }),
    processAgg(),
    allAgg(),
  ];

  test("jsonl and json: one object per record, each as toJsonRecord shows it", () => {
    const lines = render("jsonl", mixed).trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l))).toEqual(mixed.map((it) => toJsonRecord(it)));
    expect(lines.map((l) => JSON.parse(l).type)).toEqual(["event", "aggregate", "event", "aggregate", "aggregate"]);
    expect(JSON.parse(render("json", mixed))).toEqual(mixed.map((it) => toJsonRecord(it)));
  });

  test("csv: one header, the same number of columns on every row, aggregate-only columns at the end", () => {
    const rows = parseCsv(render("csv", mixed));
    expect(rows).toHaveLength(mixed.length + 1);
    const head = rows[0]!;
    expect(head).toEqual([...CSV_KEYS]);
    for (const row of rows) expect(row).toHaveLength(CSV_KEYS.length);
    const col = (row: number, key: string) => rows[row]![head.indexOf(key)];
    // an event: one call, no scope or span
    expect([col(1, "type"), col(1, "count"), col(1, "scope"), col(1, "last_time"), col(1, "last_ts_ns"), col(1, "last_boot_ns")])
      .toEqual(["event", "1", "", "", "", ""]);
    expect(col(1, "duration_ns")).toBe("41234");
    // an aggregate: its count and span, no event-only values
    expect([col(2, "type"), col(2, "scope"), col(2, "count"), col(2, "ts_ns"), col(2, "last_ts_ns"), col(2, "last_boot_ns")])
      .toEqual(["aggregate", "call", "250000", "1764118674200000000", "1764118675100000000", "6100000000"]);
    expect(col(2, "last_time")).toBe("2025-11-26T00:57:55.100000000Z");
    expect([col(2, "duration_ns"), col(2, "freed"), col(2, "forced")]).toEqual(["", "", ""]);
    expect(col(2, "name")).toBe(ODD_TEXT);
    expect(fromHex(col(2, "name_hex")!)).toEqual(ODD_NAME);
    expect([col(2, "flags_names"), col(2, "errno"), col(2, "cap_effective")]).toEqual(["O_NONBLOCK", "ENOENT", "0000000000000000"]);
    // scope all: nothing but the span and count
    expect([col(5, "scope"), col(5, "count"), col(5, "pid"), col(5, "comm"), col(5, "ret"), col(5, "errno")]).toEqual(["all", "7", "", "", "", ""]);
  });

  test("table: aggregates as rows in the same columns, CALLS says how many and until when", () => {
    const out = render("table", [
      makeEvent({ pid: 1, tid: 1 }),
      callAgg({ name: latin1("x y<any>") }),
      processAgg(),
      allAgg({ count: 3, last_ts_ns: T0 + 86_400n * S }),
      callAgg({ name: null, name_entry: null, name_entry_err: -14, name_exit: null, name_exit_err: -14, ret: -14, errno: "EFAULT" }),
    ]);
    expect(out).toBe(
      [
        "TIME                           PID    TID  COMM       UID  NAME                 FLAGS              RESULT       HOOK    CALLS",
        "2025-11-26T00:57:54.123456Z      1      1  rmmod        0  dummy                O_EXCL|O_NONBLOCK  ok           kprobe  1",
        "2025-11-26T00:57:54.200000Z   5151   5151  flooder  65534  x\\x20y\\x3cany>       O_NONBLOCK         ENOENT(-2)   kprobe  250000 until 00:57:55.100000Z",
        "2025-11-26T00:57:54.200000Z   5151   5151  flooder  65534  <any>                <any>              ENOENT(-2)   kprobe  40000 until 00:57:55.100000Z",
        "2025-11-26T00:57:54.200000Z  <any>  <any>  <any>    <any>  <any>                <any>              failed       kprobe  3 until 2025-11-27T00:57:54.200000Z",
        "2025-11-26T00:57:54.200000Z   5151   5151  flooder  65534  <unreadable:EFAULT>  O_NONBLOCK         EFAULT(-14)  kprobe  250000 until 00:57:55.100000Z",
        "",
      ].join("\n"),
    );
  });
});

describe("ReorderWindow", () => {
  type Item = { ts_ns: bigint; id: number };
  const items = (times: number[]): Item[] => times.map((t, id) => ({ ts_ns: BigInt(t), id }));
  /** Everything through a window of `capacity`, checking the bound after every push. */
  function through(capacity: number, input: Item[]): Item[] {
    const w = new ReorderWindow<Item>({ items: capacity });
    const out: Item[] = [];
    for (const it of input) {
      w.push(it);
      for (let released = w.overflow(); released; released = w.overflow()) out.push(released);
      expect(w.size).toBeLessThanOrEqual(capacity);
    }
    for (let it = w.shift(); it; it = w.shift()) out.push(it);
    return out;
  }
  const times = (out: Item[]) => out.map((it) => Number(it.ts_ns));

  test("an aggregate written after later events comes out at its first call's time", () => {
    // events at 1..9 written as they return, the aggregate (first call at 2) at the harvest
    const input = items([1, 3, 4, 5, 6, 7, 8, 9, 2]);
    expect(times(through(16, input))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(times(through(7, input))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(REORDER_WINDOW).toBe(4_096);
  });

  test("a window smaller than the disorder bounds memory: the order is best effort, nothing is lost", () => {
    const input = items([1, 3, 4, 5, 6, 7, 8, 9, 2]);
    const out = through(3, input);
    expect(times(out)).toEqual([1, 3, 4, 5, 6, 2, 7, 8, 9]);
    expect(out.map((it) => it.id).sort((a, b) => a - b)).toEqual(input.map((it) => it.id));
    expect(times(through(0, input))).toEqual(times(input));
  });

  test("equal times keep file order; a shuffled input within the window comes out sorted", () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    const input = items(Array.from({ length: 5000 }, () => Math.floor(rand() * 500)));
    const out = through(5000, input);
    const sorted = [...input].sort((a, b) => Number(a.ts_ns - b.ts_ns) || a.id - b.id);
    expect(out).toEqual(sorted);
    // mostly in order with late arrivals, through a small window: no loss, no duplicate
    const late = items(Array.from({ length: 20_000 }, (_, i) => (i % 100 === 99 ? i - 50 : i)));
    const small = through(64, late);
    expect(new Set(small.map((it) => it.id)).size).toBe(late.length);
    expect(times(small)).toEqual(times(late).sort((a, b) => a - b));
  });

  test("a byte limit too: huge items are not held by the thousand", () => {
    const w = new ReorderWindow<Item & { bytes: number }>({ items: 100, bytes: 1000, weigh: (it) => it.bytes });
    const big = (t: number) => ({ ts_ns: BigInt(t), id: t, bytes: 400 });
    const out: number[] = [];
    for (const t of [5, 4, 3, 2, 1]) {
      w.push(big(t));
      for (let r = w.overflow(); r; r = w.overflow()) out.push(r.id);
      expect(w.bytes).toBeLessThanOrEqual(1000);
    }
    expect(w.size).toBe(2);
    for (let r = w.shift(); r; r = w.shift()) out.push(r.id);
    expect(out).toEqual([3, 2, 1, 4, 5]);
    expect(w.bytes).toBe(0);
    expect(REORDER_WINDOW_BYTES).toBe(16 * 1024 * 1024);
  });

  test("a file in reverse order: memory stays at the window, the rest leaves early", () => {
    const reversed = items(Array.from({ length: 50_000 }, (_, i) => 50_000 - i));
    const out = through(REORDER_WINDOW, reversed);
    expect(out).toHaveLength(reversed.length);
    // Each item beyond the window is the earliest so far and leaves at once (best effort);
    // the window's worth held at the end comes out sorted.
    const early = 50_000 - REORDER_WINDOW;
    expect(times(out.slice(0, early))).toEqual(Array.from({ length: early }, (_, i) => early - i));
    expect(times(out.slice(early))).toEqual(Array.from({ length: REORDER_WINDOW }, (_, i) => early + 1 + i));
  });
});

// Captures written by the real writer, items in the order a recorder writes them.
const tmp = tempDir("dmrec-query-");
afterAll(() => tmp.cleanup());

function capture(items: SegmentItem[], segmentEvents = 1000): string {
  const path = tmp.path();
  const w = CaptureWriter.create(path, { ...header, budget: null }, { nowNs: FIXED_NOW, segmentEvents });
  for (const it of items) w.write(it);
  w.close();
  return path;
}

function merged(files: string[], opts: FilterOptions = {}, window?: number) {
  const damaged: DamagedInputError[] = [];
  const items = [...mergedItems(files, parseFilter(opts, NOW), damaged, { reorderWindow: window })];
  return { items, damaged };
}

const ms = (n: number) => T0 + BigInt(n) * 1_000_000n;
const ev = (t: number, over: Partial<DmrecEvent> = {}) => makeEvent({ ts_ns: ms(t), ...over });
const label = (it: QueryItem | ClockRecord) => `${it.type === "event" ? "e" : it.type === "clock" ? "clock" : it.scope}@${(it.ts_ns - T0) / 1_000_000n}`;

describe("mergedItems over captures", () => {
  // The recorder writes events as calls return and the aggregates at the next harvest,
  // after events that came later than their first call.
  const flood = () =>
    capture([
      ev(-10), ev(100), ev(300),
      callAgg({ ts_ns: ms(50), last_ts_ns: ms(900) }), processAgg({ ts_ns: ms(200), last_ts_ns: ms(950) }),
      ev(1000), allAgg({ ts_ns: ms(400), last_ts_ns: ms(1100) }), ev(1200, { ret: -2, name: latin1("nosuch") }),
      { type: "loss", ts_ns: ms(1300), count: 9, reason: "ringbuf_full" },
    ], 3);

  test("aggregates come out in time order among the events", () => {
    const { items, damaged } = merged([flood()]);
    expect(damaged).toEqual([]);
    expect(items.map(label)).toEqual(["e@-10", "call@50", "e@100", "process@200", "e@300", "all@400", "e@1000", "e@1200"]);
  });

  test("a window smaller than the disorder: best effort, nothing lost", () => {
    const { items } = merged([flood()], {}, 1);
    expect(items.map(label).sort()).toEqual(merged([flood()]).items.map(label).sort());
    expect(items.map(label)).not.toEqual(merged([flood()]).items.map(label));
  });

  test("several captures merge in time order; --events-only drops aggregates", () => {
    const other = capture([ev(60, { pid: 7 }), callAgg({ ts_ns: ms(250), last_ts_ns: ms(260), pid: 7 }), ev(1100, { pid: 7 })]);
    const { items } = merged([flood(), other]);
    expect(items.map(label)).toEqual([
      "e@-10", "call@50", "e@60", "e@100", "process@200", "call@250", "e@300", "all@400", "e@1000", "e@1100", "e@1200",
    ]);
    expect(merged([flood(), other], { eventsOnly: true }).items.map(label)).toEqual(
      ["e@-10", "e@60", "e@100", "e@300", "e@1000", "e@1100", "e@1200"],
    );
  });

  test("losses: left to onLoss unless asked for; then in time order, kept by every filter but time and --events-only", () => {
    const lossy = capture([ev(0), { type: "loss", ts_ns: ms(5), count: 2, reason: "no_exit" }, ev(10), ev(20, { pid: 9 }), { type: "loss", ts_ns: ms(15), count: 4, reason: "ringbuf_full" }], 2);
    const lossLabel = (it: SegmentItem) => (it.type === "loss" ? `loss@${(it.ts_ns - T0) / 1_000_000n}` : label(it));
    const withLosses = (opts: FilterOptions, window?: number) =>
      [...mergedItems([lossy], parseFilter(opts, NOW), [], { losses: true, reorderWindow: window })].map(lossLabel);
    expect(merged([lossy]).items.map(label)).toEqual(["e@0", "e@10", "e@20"]);
    expect(withLosses({})).toEqual(["e@0", "loss@5", "e@10", "loss@15", "e@20"]);
    expect(withLosses({}, 0)).toEqual(["e@0", "loss@5", "e@10", "e@20", "loss@15"]);
    expect(withLosses({ pid: [9], module: ["nosuch"] })).toEqual(["loss@5", "loss@15"]);
    expect(withLosses({ since: "2025-11-26T00:57:54.211Z" })).toEqual(["loss@15", "e@20"]);
    expect(withLosses({ eventsOnly: true })).toEqual(["e@0", "e@10", "e@20"]);
    // onLoss still sees every one, whatever the filter
    const seen: number[] = [];
    [...mergedItems([lossy], parseFilter({ pid: [9] }, NOW), [], { onLoss: (l) => seen.push(l.count) })];
    expect(seen).toEqual([2, 4]);
  });

  test("a clock record comes with the records in time order, also from a segment the index rules out for --module", () => {
    const step = (t: number) => makeClock({ ts_ns: ms(t) });
    // Segments of two items: [e@0 dummy, clock@5], [e@10 other, e@20 other], [e@30 dummy]
    const path = capture([ev(0), step(5), ev(10, { name: latin1("other") }), ev(20, { name: latin1("other") }), ev(30)], 2);
    const records = (opts: FilterOptions) =>
      [...mergedItems([path], parseFilter(opts, NOW), [], { losses: true })].map((it) => (it.type === "clock" ? "clock@5" : it.type === "loss" ? "loss" : label(it)));
    expect(records({})).toEqual(["e@0", "clock@5", "e@10", "e@20", "e@30"]);
    expect(records({ module: ["other"] })).toEqual(["clock@5", "e@10", "e@20"]);
    expect(records({ module: ["other"], eventsOnly: true })).toEqual(["e@10", "e@20"]);
    // query --count and stats count calls: a clock record is none
    expect([...mergedItems([path], parseFilter({}, NOW), [])].map((it) => it.type)).not.toContain("clock");
  });

  test("mergedRecords: each item with its own capture's header, shared and not copied", () => {
    const host2: CaptureHeader = { ...header, budget: null, host: { ...header.host, hostname: "host2" } };
    const path2 = tmp.path();
    const w = CaptureWriter.create(path2, host2, { nowNs: FIXED_NOW });
    for (const it of [ev(55, { pid: 2 }), { type: "loss", ts_ns: ms(65), count: 1, reason: "ringbuf_full" } as const, ev(1250, { pid: 2 })]) w.write(it);
    w.close();
    const records = [...mergedRecords([flood(), path2], parseFilter({}, NOW), [])];
    const hostOf = (r: { item: SegmentItem; header: CaptureHeader }) => `${r.item.type === "loss" ? `loss@${(r.item.ts_ns - T0) / 1_000_000n}` : label(r.item)}:${r.header.host.hostname}`;
    expect(records.map(hostOf)).toEqual([
      "e@-10:host1", "call@50:host1", "e@55:host2", "loss@65:host2", "e@100:host1", "process@200:host1", "e@300:host1",
      "all@400:host1", "e@1000:host1", "e@1200:host1", "e@1250:host2", "loss@1300:host1",
    ]);
    // one header object per capture, whatever the number of its items
    expect(new Set(records.map((r) => r.header)).size).toBe(2);
    expect([...mergedRecords([flood()], parseFilter({}, NOW), [], { reorderWindow: 0 })].every((r, _, all) => r.header === all[0]!.header)).toBe(true);
  });

  test("a segment of aggregates only is not skipped by --module or the time range of its events", () => {
    // segment 1: events of dummy; segment 2: an aggregate for nosuch, whose index lists no module
    const file = capture([ev(0), ev(1), callAgg({ ts_ns: ms(5000), last_ts_ns: ms(6000) })], 2);
    expect(merged([file], { module: ["nosuch"] }).items.map(label)).toEqual(["call@5000"]);
    expect(merged([file], { since: "2025-11-26T00:57:58Z" }).items.map(label)).toEqual(["call@5000"]);
    expect(merged([file], { module: ["nosuch"], eventsOnly: true }).items).toEqual([]);
  });

  test("a damaged capture yields what is intact, including aggregates held in the window", () => {
    const file = flood();
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 300));
    const { items, damaged } = merged([file]);
    expect(damaged).toHaveLength(1);
    expect(damaged[0]).toBeInstanceOf(DamagedInputError);
    expect(items.map(label).slice(0, 3)).toEqual(["e@-10", "call@50", "e@100"]);
  });
});

describe("query and export on the command line", () => {
  const dmrec = (...args: string[]) => {
    const r = Bun.spawnSync([process.execPath, "src/main.ts", ...args], { cwd: ROOT });
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const file = capture([
    ev(0), ev(100, { ret: -2, name: latin1("nosuch"), pid: 5151, comm: "flooder" }),
    callAgg({ ts_ns: ms(50) }), processAgg({ ts_ns: ms(60) }), allAgg({ ts_ns: ms(70) }),
    { type: "loss", ts_ns: ms(200), count: 9, reason: "ringbuf_full" },
  ]);

  test("--count counts calls: 1 per event plus each aggregate's count", () => {
    expect(dmrec("query", file, "--count")).toEqual({ code: 0, stdout: `${2 + 250_000 + 40_000 + 7}\n`, stderr: "" });
    expect(dmrec("query", file, "--count", "--events-only").stdout).toBe("2\n");
    expect(dmrec("query", file, "--count", "--module", "nosuch").stdout).toBe("250001\n");
    expect(dmrec("query", file, "--count", "--pid", "5151").stdout).toBe("290001\n");
    expect(dmrec("query", file, "--count", "--result", "ok").stdout).toBe("1\n");
    // --limit counts records: the first two in time order are the event at 0 and the call aggregate
    expect(dmrec("query", file, "--count", "--limit", "2").stdout).toBe("250001\n");
  });

  test("export writes aggregates and loss records in every format, in time order; --events-only leaves both out", () => {
    const jsonl = dmrec("export", file, "--format", "jsonl").stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(jsonl.map((r) => [r.type, r.scope ?? null, r.count ?? 1])).toEqual([
      ["event", null, 1], ["aggregate", "call", 250_000], ["aggregate", "process", 40_000], ["aggregate", "all", 7], ["event", null, 1], ["loss", null, 9],
    ]);
    expect(jsonl[5]).toEqual({ type: "loss", time: "2025-11-26T00:57:54.400000000Z", ts_ns: String(ms(200)), count: 9, reason: "ringbuf_full" });
    expect(JSON.parse(dmrec("export", file, "--format", "json").stdout)).toEqual(jsonl);
    const csv = parseCsv(dmrec("export", file, "--format", "csv").stdout);
    expect(csv).toHaveLength(7);
    for (const row of csv) expect(row).toHaveLength(CSV_KEYS.length);
    expect(csv.slice(1).map((row) => row[0])).toEqual(jsonl.map((r) => r.type));
    expect(dmrec("export", file, "--format", "jsonl", "--events-only").stdout.trimEnd().split("\n").map((l) => JSON.parse(l).type)).toEqual(["event", "event"]);
    const table = dmrec("query", file).stdout.split("\n");
    expect(table).toHaveLength(8);
    expect(table[2]).toEndWith("250000 until 00:57:55.100000Z");
    expect(table[6]).toMatch(/^2025-11-26T00:57:54\.400000Z +<any> +<any> +<any> +<any> +<any> +<any> +ok +- +9 lost \(ringbuf_full\)$/);
  });

  test("loss records: kept by every filter but the time window and --events-only; --limit counts them", () => {
    const types = (...args: string[]) => dmrec("query", file, "--format", "jsonl", ...args).stdout.trimEnd().split("\n").filter(Boolean).map((l) => JSON.parse(l).type);
    // a loss's calls may be anyone's: nothing but its time says it is not what a filter asks for
    expect(types("--module", "nosuch")).toEqual(["aggregate", "event", "loss"]);
    expect(types("--pid", "1")).toEqual(["loss"]);
    expect(types("--result", "ok", "--forced")).toEqual(["loss"]);
    // by the time the loss was noticed, ms(200): since inclusive, until exclusive
    expect(types("--until", "2025-11-26T00:57:54.4Z")).toEqual(["event", "aggregate", "aggregate", "aggregate", "event"]);
    expect(types("--since", "2025-11-26T00:57:54.4Z", "--events-only")).toEqual([]);
    expect(types("--since", "2025-11-26T00:57:54.4Z", "--pid", "1")).toEqual(["loss"]);
    expect(types("--since", "2025-11-26T00:57:54.400000001Z", "--pid", "1")).toEqual([]);
    expect(types("--events-only", "--pid", "1")).toEqual([]);
    expect(types("--limit", "1", "--pid", "1")).toEqual(["loss"]);
    // --count counts calls someone made: a loss record's are not (stats totals them)
    expect(dmrec("query", file, "--count", "--pid", "1").stdout).toBe("0\n");
    expect(dmrec("query", file, "--count", "--limit", "6").stdout).toBe(`${2 + 250_000 + 40_000 + 7}\n`);
  });
});
