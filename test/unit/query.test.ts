import { describe, expect, test } from "bun:test";
import type { DmrecEvent, SegmentInfo } from "../../src/event.ts";
import { UsageError } from "../../src/errors.ts";
import { type FilterOptions, matches, parseFilter, segmentMayMatch } from "../../src/query/filter.ts";
import {
  createRenderer,
  escapeBytes,
  type Format,
  RECORD_KEYS,
  type RenderOptions,
  toHex,
  toJsonRecord,
} from "../../src/query/render.ts";
import { dateToNs, nsToIso, parseIsoNs } from "../../src/query/time.ts";
import { latin1, makeEvent } from "../support/events.ts";

const NOW = new Date("2026-11-26T12:00:00Z");
const NOW_NS = 1795694400n * 1_000_000_000n;
const S = 1_000_000_000n;

function keep(opts: FilterOptions, events: DmrecEvent[]): DmrecEvent[] {
  const f = parseFilter(opts, NOW);
  return events.filter((ev) => matches(f, ev));
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

function render(format: Format, events: DmrecEvent[], options?: RenderOptions): string {
  let out = "";
  const r = createRenderer(format, (chunk) => (out += chunk), options);
  for (const ev of events) r.event(ev);
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
    expect(lines[0]).toBe(RECORD_KEYS.join(","));
    expect(lines[2]).toContain(`,"${ODD_TEXT.replaceAll('"', '""')}",`);
    expect(lines[2]).toContain(",O_EXCL|O_NONBLOCK,-2,ENOENT,false");
    expect(lines[1]).toContain(",0,,true,false");
    const rows = parseCsv(out);
    expect(rows).toHaveLength(3);
    const name = rows[0]!.indexOf("name");
    expect(rows[2]![name]).toBe(ODD_TEXT);
    expect(fromHex(rows[2]![name + 1]!)).toEqual(ODD_NAME);
    expect(rows[1]![rows[0]!.indexOf("ts_ns")]).toBe("1764118674123456789");
    expect(render("csv", [])).toBe(`${RECORD_KEYS.join(",")}\r\n`);
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
        "TIME                            PID     TID  COMM        UID  NAME                 FLAGS              RESULT       HOOK",
        "2025-11-26T00:57:54.123456Z       7       7  rmmod         0  dummy                O_EXCL|O_NONBLOCK  ok           kprobe",
        "2025-11-26T00:57:55.000000Z  123456  123457  my\\x20mod  1000  x\\x20y\\x80\\x3c       0                  ENOENT(-2)   tracepoint",
        "2025-11-26T00:57:54.123456Z      42      43  rmmod         0  <unreadable:EFAULT>  O_TRUNC            EAGAIN(-11)  kprobe",
        "",
      ].join("\n"),
    );
  });

  test("table: widths come from the first rows; later wider cells are not cut", () => {
    const out = render(
      "table",
      [makeEvent({ name: latin1("a") }), makeEvent({ name: latin1("a-much-longer-name") })],
      { tableSizingRows: 1 },
    );
    expect(out.split("\n")).toEqual([
      "TIME                          PID   TID  COMM   UID  NAME  FLAGS              RESULT  HOOK",
      "2025-11-26T00:57:54.123456Z  4242  4243  rmmod    0  a     O_EXCL|O_NONBLOCK  ok      kprobe",
      "2025-11-26T00:57:54.123456Z  4242  4243  rmmod    0  a-much-longer-name  O_EXCL|O_NONBLOCK  ok      kprobe",
      "",
    ]);
    expect(render("table", []).split("\n")[0]).toBe("TIME  PID  TID  COMM  UID  NAME  FLAGS  RESULT  HOOK");
  });

  test("jsonl, json and csv write each event as it comes", () => {
    for (const format of ["jsonl", "json", "csv"] as const) {
      const chunks: string[] = [];
      const r = createRenderer(format, (c) => chunks.push(c));
      r.event(makeEvent());
      const afterOne = chunks.join("");
      expect(afterOne).toContain("1764118674123456789");
      r.event(makeEvent());
      r.end();
      expect(chunks.join("")).toStartWith(afterOne);
    }
  });

  test("table: output starts only once the sizing rows are in", () => {
    const chunks: string[] = [];
    const r = createRenderer("table", (c) => chunks.push(c), { tableSizingRows: 2 });
    r.event(makeEvent());
    expect(chunks).toEqual([]);
    r.event(makeEvent());
    expect(chunks).toHaveLength(3);
    r.event(makeEvent());
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
    type: "segment", index: 1, events: 3, losses: 0, lost_calls: 0,
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

  test("a segment of loss records only holds no event; no filter keeps every other segment", () => {
    expect(segmentMayMatch(f({}), seg({ events: 0, first_ts_ns: null, last_ts_ns: null, modules: [] }))).toBe(false);
    expect(segmentMayMatch(f({}), seg())).toBe(true);
    expect(segmentMayMatch(f({ pid: [1] }), seg())).toBe(true);
  });
});
