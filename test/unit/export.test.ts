// The SIEM exports (src/export/) checked against the official schema files vendored under
// fixtures/schemas/ (its README names each file's source, version and licence), through
// the validators of test/support/export_schemas.ts: every ECS field, type and allowed
// value; every OCSF attribute, requirement, constraint, profile and enum; Timesketch's
// fields as its JSONL importer reads them. For every kind of record, hostile names
// included, from hand-made records and from every fixture capture, and the same bytes
// under Deno. The validators are tested too: each must catch a broken document.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../../src/bytes.ts";
import {
  LOSS_REASONS,
  type CaptureHeader,
  type DmrecEvent,
  type LossRecord,
  type SegmentItem,
} from "../../src/event.ts";
import { ECS_VERSION } from "../../src/export/ecs.ts";
import { createExportRenderer, EXPORT_FORMATS, type ExportFormat } from "../../src/export/index.ts";
import { OCSF_VERSION } from "../../src/export/ocsf.ts";
import { O_NONBLOCK, O_TRUNC } from "../../src/names.ts";
import { escapeBytes } from "../../src/query/escape.ts";
import { toJsonRecord } from "../../src/query/render.ts";
import { header, readAll, ROOT, run, sampleAggregates, sampleEvents } from "../support/captures.ts";
import {
  at,
  CLASS_BY_UID,
  ECS,
  ecsProblems,
  type Json,
  OCSF,
  ocsfProblems,
  PROBLEMS,
  readJson,
  readText,
  timesketchProblems,
} from "../support/export_schemas.ts";
import { latin1, makeAggregate, makeClock, makeEvent, makeOverflowAggregate, makeProcessAggregate } from "../support/events.ts";

// ---------------------------------------------------------------- records

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Module names a caller can choose: markup, a spreadsheet formula, terminal controls, bytes that are not UTF-8, bidi. */
const HOSTILE_NAMES = [
  latin1("<script>alert(1)</script>"),
  latin1('=HYPERLINK("http://evil.example/","click")'),
  latin1("\x1b[31mred\r\n\x00\x07\x7f"),
  latin1("du\x80\xfe\xff"),
  utf8("dummy\u202egpj.exe"),
  latin1('a"b\\c&d'),
];

const LOSSES: LossRecord[] = LOSS_REASONS.map((reason, i) => ({ type: "loss", ts_ns: 1764118675000000000n + BigInt(i), count: 17 + i, reason }));

const FORCED = makeEvent({ flags: O_TRUNC | O_NONBLOCK, flags_names: ["O_TRUNC", "O_NONBLOCK"], forced: true });
const TOCTOU_FAILED = makeEvent({ name_exit: latin1("other"), name_kernel: null, toctou: true, toctou_reason: ["entry!=exit"], ret: -2 });
const TOCTOU_UNLOADED = makeEvent({ name_exit: latin1("other"), toctou: true, toctou_reason: ["entry!=exit", "exit!=kernel"] });
const UNREADABLE = makeEvent({ name: null, name_entry: null, name_entry_err: -14, name_exit: null, name_exit_err: -14, name_kernel: null, toctou: null, ret: -14 });

const EVENTS: DmrecEvent[] = [
  makeEvent(),
  makeEvent({ ret: -2, name: latin1("nosuch") }),
  makeEvent({ ret: -1, uid: 1000, euid: 1000, gid: 1000, cap_effective: 0n, cap_sys_module: false }),
  makeEvent({ ret: -11 }),
  FORCED,
  TOCTOU_FAILED,
  TOCTOU_UNLOADED,
  UNREADABLE,
  makeEvent({ container_id: "0123456789abcdef".repeat(4), exe: null, loginuid: 4294967295, sessionid: 4294967295 }),
  makeEvent({ hook: "raw-syscalls", freed: null, comm: latin1("rm\xffmod"), parent_comm: latin1("<b>") }),
  ...sampleEvents(4),
  ...HOSTILE_NAMES.map((name) => makeEvent({ ret: -2, name, comm: name, parent_comm: name, exe: `/tmp/${escapeBytes(name)}` })),
];

const AGGREGATES = [
  ...sampleAggregates(),
  makeProcessAggregate(),
  makeOverflowAggregate(),
  makeAggregate({ toctou: true, toctou_reason: ["entry!=exit"], name_exit: latin1("other") }),
  ...HOSTILE_NAMES.map((name) => makeAggregate({ name, comm: name })),
];

/** A fixture capture's items, each with the capture's header. */
function captureRecords(file: string): { item: SegmentItem; header: CaptureHeader }[] {
  const [head, ...rest] = readAll(join(ROOT, "fixtures", file)).items;
  if (head?.type !== "header") throw new Error(`${file}: no header`);
  return rest.flatMap((item) => (item.type === "header" ? [] : [{ item, header: head }]));
}

const FIXTURES = readdirSync(join(ROOT, "fixtures"))
  .filter((f) => f.endsWith(".cbor.zst"))
  .sort()
  .flatMap(captureRecords);

const RECORDS: { item: SegmentItem; header: CaptureHeader }[] = [
  ...[...EVENTS, ...AGGREGATES, ...LOSSES, makeClock(), makeClock({ boot_to_wall_ns: makeClock().old_boot_to_wall_ns - 90_000_000_000n })].map((item) => ({ item, header })),
  ...FIXTURES,
];

function lines(format: ExportFormat, records: { item: SegmentItem; header: CaptureHeader }[]): string[] {
  let out = "";
  const r = createExportRenderer(format, (chunk) => (out += chunk));
  for (const { item, header: h } of records) r.item(item, h);
  r.end();
  return out.split(/(?<=\n)/);
}

const parsed = (format: ExportFormat, records: { item: SegmentItem; header: CaptureHeader }[]) =>
  lines(format, records).map((l) => JSON.parse(l) as Json);

const one = (format: ExportFormat, item: SegmentItem, h: CaptureHeader = header) => parsed(format, [{ item, header: h }])[0]!;

// ---------------------------------------------------------------- tests

/** The problems `check` finds in a copy of `good` that `f` has broken. */
const breaking = (good: Json, check: (doc: Json) => string[]) => (f: (doc: Json) => void) => {
  const doc = structuredClone(good);
  f(doc);
  return check(doc);
};

describe("the vendored schemas", () => {
  test("are the versions the exports claim", () => {
    expect(readText("ecs/version").trim()).toBe(ECS_VERSION);
    expect(readJson(OCSF, "version.json").version).toBe(OCSF_VERSION);
    expect(readJson(OCSF, "extensions/linux/extension.json").version).toBe(OCSF_VERSION);
    expect(Object.keys(ECS).length).toBeGreaterThan(1000);
    expect(CLASS_BY_UID.get(1002)?.attrs.driver?.requirement).toBe("required");
  });
});

describe("clock records", () => {
  test("ECS: a change of the host, the step exact; OCSF: a Base Event; Timesketch: its own kind", () => {
    const ecs = one("ecs", makeClock());
    expect([at(ecs, "event.action"), at(ecs, "event.category"), at(ecs, "event.type"), at(ecs, "auditd")]).toEqual(["clock-stepped", ["host"], ["change"], undefined]);
    expect([at(ecs, "dmrec.type"), at(ecs, "dmrec.step_ns"), at(ecs, "@timestamp")]).toEqual(["clock", "3600000000000", "2025-11-26T01:57:54.100000000Z"]);
    expect(at(ecs, "message")).toContain("stepped by +3600.000000000s");
    const ocsf = one("ocsf", makeClock({ boot_to_wall_ns: makeClock().old_boot_to_wall_ns - 5_000_000_000n }));
    expect([at(ocsf, "class_uid"), at(ocsf, "activity_id"), at(ocsf, "activity_name"), at(ocsf, "unmapped.dmrec.step_ns")]).toEqual([0, 99, "Clock Step", "-5000000000"]);
    expect(at(ocsf, "message")).toContain("stepped by -5.000000000s");
    const ts = one("timesketch", makeClock());
    expect([at(ts, "timestamp_desc"), at(ts, "data_type")]).toEqual(["Clock step noticed", "dmrec:delete_module:clock"]);
  });
});

describe("ecs", () => {
  test("categorised as auditbeat's normalisation (go-libaudit) categorises delete_module", () => {
    const norms = (Bun.YAML.parse(readText("go-libaudit/aucoalesce/normalizations.yaml")) as {
      normalizations: { action: string; syscalls?: string[]; ecs: { category: string; type: string } }[];
    }).normalizations;
    const n = norms.find((x) => x.syscalls?.includes("delete_module"))!;
    for (const doc of parsed("ecs", RECORDS.filter((r) => r.item.type !== "clock"))) {
      expect(at(doc, "event.action")).toBe(n.action);
      expect(at(doc, "event.category")).toEqual([n.ecs.category]);
      expect(at(doc, "event.type")).toEqual([n.ecs.type]);
      expect(at(doc, "auditd.data.syscall")).toBe("delete_module");
    }
  });

  test("a successful call, a failed one, a forced unload and a TOCTOU", () => {
    const ok = one("ecs", makeEvent());
    expect([at(ok, "event.kind"), at(ok, "event.action"), at(ok, "event.outcome"), at(ok, "error")]).toEqual(["event", "unloaded-kernel-module", "success", undefined]);
    expect(at(ok, "@timestamp")).toBe("2025-11-26T00:57:54.123456789Z");
    expect(at(ok, "dmrec.ts_ns")).toBe("1764118674123456789");
    expect(at(ok, "dmrec.name")).toBe("dummy");
    expect([at(ok, "process.pid"), at(ok, "process.thread.id"), at(ok, "process.name"), at(ok, "process.executable")]).toEqual([4242, 4243, "rmmod", "/usr/bin/kmod"]);
    expect([at(ok, "process.parent.pid"), at(ok, "process.parent.name"), at(ok, "user.id"), at(ok, "user.effective.id")]).toEqual([1000, "bash", "0", "0"]);
    // What Elastic's rules match on: the command line and the parent's executable, read in the kernel.
    expect([at(ok, "process.args"), at(ok, "process.args_count"), at(ok, "process.command_line"), at(ok, "process.parent.executable")]).toEqual([
      ["rmmod", "dummy"], 2, "rmmod dummy", "/usr/bin/bash",
    ]);
    expect([at(ok, "dmrec.exe_inode"), at(ok, "dmrec.exe_dev"), at(ok, "dmrec.tty"), at(ok, "dmrec.argv_hex")]).toEqual(["131842", "254:1", "pts0", ["726d6d6f64", "64756d6d79"]]);
    const unreadable = one("ecs", makeEvent({ argv: null, argv_err: -14 }));
    expect([at(unreadable, "process.args"), at(unreadable, "process.command_line"), at(unreadable, "dmrec.argv_err")]).toEqual([undefined, undefined, -14]);
    expect([at(ok, "host.hostname"), at(ok, "host.os.type"), at(ok, "host.os.kernel"), at(ok, "host.boot.id")]).toEqual(["host1", "linux", "6.18.0", header.host.boot_id]);
    expect(at(ok, "ecs.version")).toBe(ECS_VERSION);

    const failed = one("ecs", makeEvent({ ret: -2, name: latin1("nosuch"), uid: 1000, euid: 0 }));
    expect([at(failed, "event.outcome"), at(failed, "error.code"), at(failed, "event.code")]).toEqual(["failure", "ENOENT", "ENOENT"]);
    expect([at(failed, "user.id"), at(failed, "user.effective.id")]).toEqual(["1000", "0"]);
    expect(at(failed, "event.severity")).toBeLessThan(at(ok, "event.severity") as number);

    const forced = one("ecs", FORCED);
    expect([at(forced, "dmrec.forced"), at(forced, "event.severity"), at(forced, "tags")]).toEqual([true, 4, ["forced-unload"]]);
    const toctou = one("ecs", TOCTOU_FAILED);
    expect([at(toctou, "dmrec.toctou"), at(toctou, "dmrec.toctou_reason"), at(toctou, "event.severity"), at(toctou, "tags")]).toEqual([true, ["entry!=exit"], 4, ["toctou"]]);
  });

  test("an aggregate is one event document with its count and span", () => {
    const doc = one("ecs", makeAggregate());
    expect([at(doc, "event.kind"), at(doc, "event.outcome"), at(doc, "dmrec.count"), at(doc, "dmrec.scope")]).toEqual(["event", "failure", 250000, "call"]);
    expect([at(doc, "event.start"), at(doc, "event.end"), at(doc, "event.duration")]).toEqual(["2025-11-26T00:57:54.200000000Z", "2025-11-26T00:57:55.100000000Z", 900_000_000]);
    expect(at(doc, "message")).toContain("250000 failed delete_module calls");
    const all = one("ecs", makeOverflowAggregate());
    expect([at(all, "process"), at(all, "user"), at(all, "error"), at(all, "dmrec.count")]).toEqual([undefined, undefined, undefined, 7]);
  });

  test("a loss record is a pipeline error that keeps its count and reason", () => {
    for (const loss of LOSSES) {
      const doc = one("ecs", loss);
      expect([at(doc, "event.kind"), at(doc, "error.code"), at(doc, "dmrec.count"), at(doc, "dmrec.reason")]).toEqual(["pipeline_error", loss.reason, loss.count, loss.reason]);
      expect(at(doc, "event.outcome")).toBe(loss.reason === "ringbuf_full" ? "success" : "unknown");
    }
  });

  test("the validator catches what ECS would not take", () => {
    const good = one("ecs", makeEvent());
    const broken = breaking(good, ecsProblems);
    expect(ecsProblems(good)).toEqual([]);
    expect(broken((d) => ((d.process as Json).module = "dummy"))).toEqual(["process.module: not an ECS field"]);
    expect(broken((d) => ((d.event as Json).type = ["deletion"]))).toEqual(["event.type: deletion is not expected for event.category driver"]);
    expect(broken((d) => ((d.event as Json).category = "driver"))).toEqual(["event.category: must be an array"]);
    expect(broken((d) => ((d.event as Json).kind = "incident"))).toEqual(['event.kind: "incident" is not an allowed value']);
    expect(broken((d) => ((d.user as Json).id = 0))).toEqual(["user.id: 0 is not of type keyword"]);
    expect(broken((d) => ((d.process as Json).pid = "4242"))).toEqual(['process.pid: "4242" is not of type long']);
    expect(broken((d) => delete d["@timestamp"])).toEqual(["@timestamp: required"]);
    expect(broken((d) => ((d.host as Json).os = { type: "Linux" }))).toEqual(['host.os.type: "Linux" is not an expected value']);
  });
});

describe("ocsf", () => {
  test("a call is Kernel Extension Activity: Unload, with its actor, device, driver and status", () => {
    const ok = one("ocsf", makeEvent());
    expect([ok.class_uid, ok.category_uid, ok.activity_id, ok.type_uid]).toEqual([1002, 1, 2, 100202]);
    expect([ok.time, at(ok, "metadata.original_time"), at(ok, "unmapped.dmrec.ts_ns")]).toEqual([1764118674123, "2025-11-26T00:57:54.123456789Z", "1764118674123456789"]);
    expect([ok.status_id, ok.status, ok.status_code, ok.severity_id]).toEqual([1, "Success", "0", 2]);
    expect(at(ok, "driver.file.name")).toBe("dummy");
    expect([at(ok, "actor.process.pid"), at(ok, "actor.process.name"), at(ok, "actor.process.parent_process.pid"), at(ok, "actor.user.uid")]).toEqual([4242, "rmmod", 1000, "0"]);
    expect([at(ok, "actor.process.cmd_line"), at(ok, "actor.process.file.path"), at(ok, "actor.process.parent_process.file.path")]).toEqual([
      "rmmod dummy", "/usr/bin/kmod", "/usr/bin/bash",
    ]);
    expect([at(ok, "device.hostname"), at(ok, "device.os.type_id"), at(ok, "device.os.kernel_release")]).toEqual(["host1", 200, "6.18.0"]);
    expect([at(ok, "metadata.version"), at(ok, "metadata.product.name"), at(ok, "metadata.product.version")]).toEqual([OCSF_VERSION, "dmrec", "0.1.0"]);

    const failed = one("ocsf", makeEvent({ ret: -1 }));
    expect([failed.status_id, failed.status, failed.status_code, failed.status_detail, failed.severity_id]).toEqual([2, "Failure", "-1", "EPERM", 1]);
    expect([FORCED, TOCTOU_FAILED, TOCTOU_UNLOADED].map((e) => one("ocsf", e).severity_id)).toEqual([4, 4, 4]);
    expect(at(one("ocsf", UNREADABLE), "driver.file.name")).toBe("");
  });

  test("aggregates carry count, start_time and end_time; those that know no actor, and losses, are Base Events", () => {
    const agg = one("ocsf", makeAggregate());
    expect([agg.class_uid, agg.count, agg.start_time, agg.end_time, agg.duration]).toEqual([1002, 250000, 1764118674200, 1764118675100, 900]);
    expect(one("ocsf", makeProcessAggregate()).class_uid).toBe(1002);
    const all = one("ocsf", makeOverflowAggregate());
    expect([all.class_uid, all.type_uid, all.count, all.status_id, at(all, "metadata.profiles")]).toEqual([0, 99, 7, 2, ["host"]]);
    for (const loss of LOSSES) {
      const ev = one("ocsf", loss);
      expect([ev.class_uid, ev.count, ev.status_detail, at(ev, "unmapped.dmrec.reason")]).toEqual([0, loss.count, loss.reason, loss.reason]);
      expect([ev.status_id, ev.severity_id]).toEqual(loss.reason === "ringbuf_full" ? [1, 4] : [0, 3]);
    }
  });

  test("the validator catches what the schema would not take", () => {
    const good = one("ocsf", makeEvent());
    const broken = breaking(good, ocsfProblems);
    expect(ocsfProblems(good)).toEqual([]);
    expect(broken((d) => delete d.driver)).toEqual(["driver: required"]);
    expect(broken((d) => delete (at(d, "driver.file") as Json).name)).toEqual(["driver.file.name: required"]);
    expect(broken((d) => (d.severity_id = 7))).toEqual(["severity_id: 7 is not one of 0, 1, 2, 3, 4, 5, 6, 99"]);
    expect(broken((d) => (d.severity = "Critical"))).toEqual(['severity: "Critical" is not "Low"']);
    expect(broken((d) => (d.type_uid = 100201))).toEqual(['type_name: "Kernel Extension Activity: Unload" is not "Kernel Extension Activity: Load"', "type_uid: not class_uid * 100 + activity_id"]);
    expect(broken((d) => ((at(d, "actor.process") as Json).module = "dummy"))).toEqual(["actor.process.module: not an attribute here"]);
    expect(broken((d) => ((at(d, "actor.process") as Json).pid = "4242"))).toEqual(['actor.process.pid: "4242" is not of type integer_t']);
    expect(broken((d) => ((d.metadata as Json).profiles = []))).toEqual([
      "actor.process.euid: needs the profile linux/linux_users in metadata.profiles",
      "actor.process.auid: needs the profile linux/linux_users in metadata.profiles",
      "actor.process.group: needs the profile linux/linux_users in metadata.profiles",
    ]);
    expect(broken((d) => delete (d.metadata as Json).extensions)).toEqual(["metadata.extensions: the profile linux/linux_users needs its extension, linux 1.8.0"]);
    expect(broken((d) => ((d.metadata as Json).profiles = ["linux/linux_users", "linux/users"]))).toEqual(["metadata.profiles: linux/users is not a profile"]);
    expect(broken((d) => (d.actor = {}))).toEqual(["actor.: needs one of process, user, invoked_by, session, app_name, app_uid"]);
    expect(broken((d) => ((at(d, "device.os") as Json).type = "Windows"))).toEqual(['device.os.type: "Windows" is not "Linux"']);
    expect(broken((d) => (d.class_uid = 1001))).toEqual(["class_uid 1001: no such class"]);
  });
});

describe("timesketch", () => {
  test("an event, an aggregate and a loss, and a timestamp exact past 2^53 µs", () => {
    const ev = one("timesketch", makeEvent());
    expect([ev.datetime, ev.timestamp, ev.timestamp_desc, ev.ts_ns, ev.name, ev.hostname]).toEqual(["2025-11-26T00:57:54.123456Z", 1764118674123456, "delete_module entry", "1764118674123456789", "dummy", "host1"]);
    expect(one("timesketch", makeAggregate()).message).toStartWith("250000 failed delete_module calls by flooder (pid 5151, uid 65534) for kernel module nosuch: ENOENT");
    expect(one("timesketch", LOSSES[0]!).message).toStartWith("17 successful delete_module calls lost");
    const [early] = lines("timesketch", [{ item: makeEvent({ ts_ns: -(2n ** 63n) }), header }]);
    expect(early).toContain('"timestamp":-9223372036854776,');
  });

  test("the validator catches what the importer would not take", () => {
    const good = lines("timesketch", [{ item: makeEvent(), header }])[0]!;
    expect(timesketchProblems(good)).toEqual([]);
    expect(timesketchProblems(good.replace(',"timestamp_desc":"delete_module entry"', ""))).toEqual(["timestamp_desc: missing", "timestamp_desc: not a non-empty string"]);
    expect(timesketchProblems(good.replace('"timestamp":1764118674123456', '"timestamp":1764118674123457'))).toEqual(["timestamp: 1764118674123457 µs is not 2025-11-26T00:57:54.123456Z"]);
    expect(timesketchProblems(good.replace("54.123456Z", "54.123456+02:00"))).toEqual(['datetime: "2025-11-26T00:57:54.123456+02:00" is not ISO 8601 UTC']);
  });
});

describe("every format", () => {
  // ECS: every field is ECS's (or auditbeat's auditd.data.syscall, or under dmrec.*), of
  // its type, with allowed values. OCSF: every attribute is the class's or its objects',
  // every required one is there, every enum value is valid. Timesketch: message,
  // datetime, timestamp (µs) and timestamp_desc.
  test.each([...EXPORT_FORMATS])("%s: every record comes out valid per the vendored schema", (format) => {
    const ls = lines(format, RECORDS);
    expect(ls.length).toBe(RECORDS.length);
    for (const [i, l] of ls.entries()) expect({ i, problems: PROBLEMS[format](l) }).toEqual({ i, problems: [] });
  });

  /** Where each format keeps dmrec's own record. */
  const DMREC: Record<ExportFormat, (doc: Json) => Json> = {
    ecs: (d) => d.dmrec as Json,
    ocsf: (d) => at(d, "unmapped.dmrec") as Json,
    timesketch: (d) => d,
  };
  const MODULE: Record<ExportFormat, (doc: Json) => unknown> = {
    ecs: (d) => at(d, "dmrec.name"),
    ocsf: (d) => at(d, "driver.file.name"),
    timesketch: (d) => d.name,
  };

  test.each([...EXPORT_FORMATS])("%s: one line per record, each with the whole record as jsonl writes it", (format) => {
    const docs = parsed(format, RECORDS);
    expect(docs.length).toBe(RECORDS.length);
    for (const [i, { item }] of RECORDS.entries()) {
      const rec = item.type === "loss" ? { type: "loss", ts_ns: String(item.ts_ns), count: item.count, reason: item.reason } : toJsonRecord(item);
      expect(DMREC[format](docs[i]!)).toMatchObject(JSON.parse(JSON.stringify(rec)));
    }
  });

  test.each([...EXPORT_FORMATS])("%s: hostile names come out escaped, in plain-ASCII valid JSON, their bytes in hex", (format) => {
    // exe is text, not bytes, and kept as it is; the line escapes it all the same.
    const exe = "/tmp/\u202ekmod<script>&\x1b";
    const records = [...HOSTILE_NAMES.map((name) => makeEvent({ ret: -2, name, comm: name, parent_comm: name, exe })), ...AGGREGATES.slice(-HOSTILE_NAMES.length)];
    const ls = lines(format, records.map((item) => ({ item, header })));
    for (const [i, l] of ls.entries()) {
      expect(l).toMatch(/^[\x20-\x7e]*\n$/);
      expect(l).not.toMatch(/[<>&]/);
      const doc = JSON.parse(l) as Json;
      const name = records[i]!.name!;
      expect(MODULE[format](doc)).toBe(escapeBytes(name));
      expect(DMREC[format](doc).name_hex).toBe(toHex(name));
      expect(DMREC[format](doc).comm).toBe(escapeBytes(name));
      if (records[i]!.type === "event") expect(DMREC[format](doc).exe).toBe(exe);
    }
  });

  test.each([...EXPORT_FORMATS])("%s: host fields come from each record's own capture", (format) => {
    const other: CaptureHeader = { ...header, host: { hostname: "host2", kernel: "6.1.0-28-amd64", boot_id: "b0000000-0000-4000-8000-000000000002", arch: "aarch64" } };
    const [a, b] = parsed(format, [{ item: makeEvent(), header }, { item: makeEvent(), header: other }]);
    const hostname = { ecs: "host.hostname", ocsf: "device.hostname", timesketch: "hostname" }[format];
    expect([at(a, hostname), at(b, hostname)]).toEqual(["host1", "host2"]);
  });

  test("Deno writes the same bytes", () => {
    const script = `
      import { readCapture } from "file://${ROOT}/src/capture/reader.ts";
      import { createExportRenderer } from "file://${ROOT}/src/export/index.ts";
      import process from "node:process";
      let out = "";
      for (const format of ["ecs", "ocsf", "timesketch"]) {
        const r = createExportRenderer(format, (chunk) => (out += chunk));
        for (const file of ${JSON.stringify(["flood.cbor.zst", "small.cbor.zst"])}) {
          const [header, ...items] = [...readCapture("${ROOT}/fixtures/" + file)];
          for (const item of items) r.item(item, header);
        }
        r.end();
      }
      process.stdout.write(out);
    `;
    const r = run([join(ROOT, "node_modules/.bin/deno"), "eval", "--ext=ts", script]);
    expect(r.stderr).toBe("");
    const records = ["flood.cbor.zst", "small.cbor.zst"].flatMap(captureRecords);
    const bun = EXPORT_FORMATS.map((format) => lines(format, records).join("")).join("");
    expect(records.length).toBeGreaterThan(5);
    expect(new TextDecoder().decode(r.stdout)).toBe(bun);
  });
});
