// Output formats of `dmrec query` and `dmrec export` for events, aggregate records and loss
// records: the JSON view of each, and streaming renderers (jsonl, json, csv, table) that
// write through a sink, so memory does not grow with the number of records.

import { bytesEqual, toHex } from "../bytes.ts";
import type { AggregateRecord, ClockRecord, DmrecEvent, LossRecord, ProcessImage, SegmentItem } from "../event.ts";
import { errnoName } from "../names.ts";
import { asBytes, escapeBytes } from "./escape.ts";
import { jsonLine } from "./json_line.ts";
import { type Sink, tableText, tableWriter, type TableColumn } from "./table.ts";
import { nsToIso } from "./time.ts";

export const FORMATS = ["table", "json", "jsonl", "csv"] as const;
export type Format = (typeof FORMATS)[number];

export type JsonValue = string | number | boolean | null | string[];

export interface Renderer {
  item(item: SegmentItem): void;
  /** Writes what a format needs after the last record (also with no records at all). */
  end(): void;
}

export interface RenderOptions {
  /** table: rows buffered to size the columns (default TABLE_SIZING_ROWS) */
  tableSizingRows?: number;
}

/** Rows the table holds to size its columns before it writes anything. */
export const TABLE_SIZING_ROWS = 1000;

/** What the task ran (ProcessImage), last in events and aggregates: the arguments as names are, text and hex. */
const IMAGE_KEYS = [
  "exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe",
  "argv", "argv_hex", "argv_err", "argv_truncated", "tty",
] as const;

/** The keys of every toJsonRecord result for an event, in order. */
export const RECORD_KEYS = [
  "type", "time", "ts_ns", "boot_ns", "duration_ns", "hook",
  "pid", "tid", "ppid", "uid", "gid", "euid", "loginuid", "sessionid",
  "comm", "comm_hex", "parent_comm", "parent_comm_hex", "exe",
  "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module", "name_ptr",
  "name_entry", "name_entry_hex", "name_entry_err", "name_exit", "name_exit_hex", "name_exit_err",
  "name_kernel", "name_kernel_hex", "name", "name_hex",
  "flags", "flags_names", "ret", "errno", "freed", "forced", "toctou", "toctou_reason",
  ...IMAGE_KEYS,
] as const;

/** The keys of every toJsonRecord result for an aggregate, in order: the event's identity and name fields, the span instead of the duration, no outcome of an unload. */
export const AGGREGATE_KEYS = [
  "type", "scope", "count", "time", "ts_ns", "last_time", "last_ts_ns", "boot_ns", "last_boot_ns", "hook",
  "pid", "tid", "ppid", "uid", "gid", "euid", "loginuid", "sessionid",
  "comm", "comm_hex", "parent_comm", "parent_comm_hex", "exe",
  "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module", "name_ptr",
  "name_entry", "name_entry_hex", "name_entry_err", "name_exit", "name_exit_hex", "name_exit_err",
  "name_kernel", "name_kernel_hex", "name", "name_hex",
  "flags", "flags_names", "ret", "errno", "toctou", "toctou_reason",
  ...IMAGE_KEYS,
] as const;

/** The keys of every toJsonRecord result for a loss record, in order. */
export const LOSS_KEYS = ["type", "time", "ts_ns", "count", "reason"] as const;

/** The keys of every toJsonRecord result for a clock record, in order: its own, then the step (new offset less old). */
export const CLOCK_KEYS = ["type", "time", "ts_ns", "boot_ns", "prev_boot_ns", "old_boot_to_wall_ns", "boot_to_wall_ns", "step_ns"] as const;

/**
 * The CSV header, one for every kind: the event's columns, then the aggregate's own, then
 * the loss record's (`count` is 1 for an event, so that the column sums to every call
 * accounted for: events, aggregated calls and lost calls).
 */
export const CSV_KEYS = [
  ...RECORD_KEYS, "scope", "count", "last_time", "last_ts_ns", "last_boot_ns", "reason",
  "prev_boot_ns", "old_boot_to_wall_ns", "boot_to_wall_ns", "step_ns",
] as const;

export type EventRecord = { [K in (typeof RECORD_KEYS)[number]]: JsonValue };
export type AggregateJsonRecord = { [K in (typeof AGGREGATE_KEYS)[number]]: JsonValue };

export type ClockJsonRecord = { [K in (typeof CLOCK_KEYS)[number]]: JsonValue } & { type: "clock" };

export interface LossJsonRecord {
  type: "loss";
  time: string;
  ts_ns: string;
  count: number;
  reason: LossRecord["reason"];
}

// Every key must appear in the record: adding a field to DmrecEvent or AggregateRecord
// fails to compile until toJsonRecord shows it (and the key lists, checked against the
// record types).
type Complete = { [K in keyof DmrecEvent]-?: JsonValue } & EventRecord;
type CompleteAggregate = { [K in keyof AggregateRecord]-?: JsonValue } & AggregateJsonRecord;
type CompleteLoss = { [K in keyof LossRecord]-?: JsonValue } & { [K in (typeof LOSS_KEYS)[number]]: JsonValue };
type CompleteClock = { [K in keyof ClockRecord]-?: JsonValue } & ClockJsonRecord;

/**
 * The JSON view of an event or an aggregate, keys in the order of the SPEC table: 64-bit
 * values as exact decimal strings, null kept; byte strings as escaped text (escapeBytes)
 * plus `<key>_hex` with the raw bytes; `time` as ISO 8601 UTC with nanoseconds. `comm` is
 * treated as bytes even when it is valid UTF-8 text, so one rule covers every name and
 * attacker-chosen text cannot carry control or bidi characters into a terminal or
 * spreadsheet. A loss record by the same rules: its time, count and reason. `record
 * --print` shows live records through this too, and the SIEM exports carry it whole.
 */
export function toJsonRecord(ev: DmrecEvent): EventRecord;
export function toJsonRecord(agg: AggregateRecord): AggregateJsonRecord;
export function toJsonRecord(loss: LossRecord): LossJsonRecord;
export function toJsonRecord(clock: ClockRecord): ClockJsonRecord;
export function toJsonRecord(item: DmrecEvent | AggregateRecord): EventRecord | AggregateJsonRecord;
export function toJsonRecord(item: SegmentItem): EventRecord | AggregateJsonRecord | LossJsonRecord | ClockJsonRecord;
export function toJsonRecord(item: SegmentItem): EventRecord | AggregateJsonRecord | LossJsonRecord | ClockJsonRecord {
  switch (item.type) {
    case "event":
      return eventRecord(item);
    case "aggregate":
      return aggregateRecord(item);
    case "loss":
      return lossRecord(item);
    case "clock":
      return clockRecord(item);
  }
}

function clockRecord(c: ClockRecord): ClockJsonRecord {
  return {
    type: c.type,
    time: nsToIso(c.ts_ns),
    ts_ns: String(c.ts_ns),
    boot_ns: String(c.boot_ns),
    prev_boot_ns: String(c.prev_boot_ns),
    old_boot_to_wall_ns: String(c.old_boot_to_wall_ns),
    boot_to_wall_ns: String(c.boot_to_wall_ns),
    step_ns: String(c.boot_to_wall_ns - c.old_boot_to_wall_ns),
  } satisfies CompleteClock;
}

function lossRecord(loss: LossRecord): LossJsonRecord {
  return {
    type: loss.type,
    time: nsToIso(loss.ts_ns),
    ts_ns: String(loss.ts_ns),
    count: loss.count,
    reason: loss.reason,
  } satisfies CompleteLoss;
}

function eventRecord(ev: DmrecEvent): EventRecord {
  // An object literal rather than a loop over keys: several times faster to build and
  // to stringify, which matters at millions of events.
  const view = bytesViews();
  const comm = view(asBytes(ev.comm));
  const parentComm = view(asBytes(ev.parent_comm));
  const entry = view(ev.name_entry);
  const exit = view(ev.name_exit);
  const kernel = view(ev.name_kernel);
  const name = view(ev.name);
  return {
    type: ev.type,
    time: nsToIso(ev.ts_ns),
    ts_ns: String(ev.ts_ns),
    boot_ns: String(ev.boot_ns),
    duration_ns: String(ev.duration_ns),
    hook: ev.hook,
    pid: ev.pid,
    tid: ev.tid,
    ppid: ev.ppid,
    uid: ev.uid,
    gid: ev.gid,
    euid: ev.euid,
    loginuid: ev.loginuid,
    sessionid: ev.sessionid,
    comm: comm.text,
    comm_hex: comm.hex,
    parent_comm: parentComm.text,
    parent_comm_hex: parentComm.hex,
    exe: ev.exe,
    cgroup_id: String(ev.cgroup_id),
    container_id: ev.container_id,
    mntns: ev.mntns,
    pidns: ev.pidns,
    utsns: ev.utsns,
    cap_effective: capHex(ev.cap_effective),
    cap_sys_module: ev.cap_sys_module,
    name_ptr: String(ev.name_ptr),
    name_entry: entry.text,
    name_entry_hex: entry.hex,
    name_entry_err: ev.name_entry_err,
    name_exit: exit.text,
    name_exit_hex: exit.hex,
    name_exit_err: ev.name_exit_err,
    name_kernel: kernel.text,
    name_kernel_hex: kernel.hex,
    name: name.text,
    name_hex: name.hex,
    flags: ev.flags,
    flags_names: [...ev.flags_names],
    ret: ev.ret,
    errno: ev.errno,
    freed: ev.freed,
    forced: ev.forced,
    toctou: ev.toctou,
    toctou_reason: [...ev.toctou_reason],
    ...imageRecord(ev),
  } satisfies Complete;
}

/** The ProcessImage fields' JSON view. */
export function imageRecord(it: ProcessImage): { [K in (typeof IMAGE_KEYS)[number]]: JsonValue } {
  return {
    exe_inode: decimal(it.exe_inode),
    exe_dev: it.exe_dev,
    exe_deleted: it.exe_deleted,
    exe_truncated: it.exe_truncated,
    exe_unreachable: it.exe_unreachable,
    parent_exe: it.parent_exe,
    argv: it.argv && it.argv.map(escapeBytes),
    argv_hex: it.argv && it.argv.map(toHex),
    argv_err: it.argv_err,
    argv_truncated: it.argv_truncated,
    tty: it.tty,
  };
}

function aggregateRecord(a: AggregateRecord): AggregateJsonRecord {
  const view = bytesViews();
  const comm = view(a.comm === null ? null : asBytes(a.comm));
  const parentComm = view(a.parent_comm === null ? null : asBytes(a.parent_comm));
  const entry = view(a.name_entry);
  const exit = view(a.name_exit);
  const kernel = view(a.name_kernel);
  const name = view(a.name);
  return {
    type: a.type,
    scope: a.scope,
    count: a.count,
    time: nsToIso(a.ts_ns),
    ts_ns: String(a.ts_ns),
    last_time: nsToIso(a.last_ts_ns),
    last_ts_ns: String(a.last_ts_ns),
    boot_ns: String(a.boot_ns),
    last_boot_ns: String(a.last_boot_ns),
    hook: a.hook,
    pid: a.pid,
    tid: a.tid,
    ppid: a.ppid,
    uid: a.uid,
    gid: a.gid,
    euid: a.euid,
    loginuid: a.loginuid,
    sessionid: a.sessionid,
    comm: comm.text,
    comm_hex: comm.hex,
    parent_comm: parentComm.text,
    parent_comm_hex: parentComm.hex,
    exe: a.exe,
    cgroup_id: decimal(a.cgroup_id),
    container_id: a.container_id,
    mntns: a.mntns,
    pidns: a.pidns,
    utsns: a.utsns,
    cap_effective: a.cap_effective === null ? null : capHex(a.cap_effective),
    cap_sys_module: a.cap_sys_module,
    name_ptr: decimal(a.name_ptr),
    name_entry: entry.text,
    name_entry_hex: entry.hex,
    name_entry_err: a.name_entry_err,
    name_exit: exit.text,
    name_exit_hex: exit.hex,
    name_exit_err: a.name_exit_err,
    name_kernel: kernel.text,
    name_kernel_hex: kernel.hex,
    name: name.text,
    name_hex: name.hex,
    flags: a.flags,
    flags_names: [...a.flags_names],
    ret: a.ret,
    errno: a.errno,
    toctou: a.toctou,
    toctou_reason: [...a.toctou_reason],
    ...imageRecord(a),
  } satisfies CompleteAggregate;
}

const decimal = (v: bigint | null) => (v === null ? null : String(v));

// 16 hex digits, as CapEff in /proc/PID/status
const capHex = (v: bigint) => v.toString(16).padStart(16, "0");

interface BytesView {
  text: string | null;
  hex: string | null;
}

// The name fields of one record usually hold equal bytes: convert a repeat only once.
function bytesViews(): (bytes: Uint8Array | null) => BytesView {
  let last: Uint8Array | null = null;
  let lastView: BytesView = { text: null, hex: null };
  return (bytes) => {
    if (bytes === null) return { text: null, hex: null };
    if (last === null || !bytesEqual(bytes, last)) {
      last = bytes;
      lastView = { text: escapeBytes(bytes), hex: toHex(bytes) };
    }
    return lastView;
  };
}

export function createRenderer(format: Format, sink: Sink, options: RenderOptions = {}): Renderer {
  switch (format) {
    case "jsonl":
      return framed(NO_FRAMING, (item) => `${jsonLine(item)}\n`, sink);
    case "json":
      return framed(JSON_FRAMING, jsonLine, sink);
    case "csv":
      return framed(CSV_FRAMING, csvRow, sink);
    case "table":
      return tableRenderer(sink, options.tableSizingRows ?? TABLE_SIZING_ROWS);
  }
}

/**
 * What a line format puts before each record and after the last, apart from the
 * records' own text, so that worker threads can render records while one thread frames
 * them (src/query/parallel.ts).
 */
export interface Framing {
  before(index: number): string;
  end(records: number): string;
}

export const NO_FRAMING: Framing = { before: () => "", end: () => "" };

// `[`, one compact object per line separated by `,\n`, `]`: valid JSON that line tools
// can still slice.
export const JSON_FRAMING: Framing = {
  before: (i) => (i === 0 ? "[\n" : ",\n"),
  end: (n) => (n === 0 ? "[]\n" : "\n]\n"),
};

// RFC 4180 wants the header row even when no record follows.
export const CSV_FRAMING: Framing = {
  before: (i) => (i === 0 ? CSV_HEADER : ""),
  end: (n) => (n === 0 ? CSV_HEADER : ""),
};

function framed(framing: Framing, text: (item: SegmentItem) => string, sink: Sink): Renderer {
  let n = 0;
  return {
    item: (item) => sink(framing.before(n++) + text(item)),
    end: () => sink(framing.end(n)),
  };
}

type CsvKey = (typeof CSV_KEYS)[number];
type CsvValues = Partial<Record<CsvKey, JsonValue>>;

// An event stands for one call; the aggregate's, the loss record's and the clock record's
// columns stay empty.
const EVENT_CSV_TAIL = `${CSV_KEYS.slice(RECORD_KEYS.length).map((k) => (k === "count" ? "1" : "")).map((c) => `,${c}`).join("")}\r\n`;

// RFC 4180: CRLF line ends, a header row, fields quoted when they hold a comma, quote or
// line break. Columns are CSV_KEYS; a column a record does not have, and null, is an
// empty field; a list is joined with `|`.
/**
 * Columns whose text comes from the capture, that is from whoever called
 * delete_module or crafted the file: names, command names, paths, and the errno
 * and flag names, which a reader takes as any text. A spreadsheet runs a cell
 * that starts with = + - @ (tab and CR are escaped already) as a formula
 * (OWASP, "CSV Injection"), so such a cell gets a leading apostrophe; the
 * `_hex` column beside a name keeps the raw bytes.
 */
const UNTRUSTED_CSV = new Set<string>([
  "comm", "parent_comm", "exe", "container_id", "name_entry", "name_exit", "name_kernel", "name", "errno", "flags_names",
  "exe_dev", "parent_exe", "argv", "tty",
]);

const csvCell = (key: string, v: JsonValue) => {
  const text = csvText(v);
  return csvField(UNTRUSTED_CSV.has(key) && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text);
};

/** The CSV header row, CRLF included. */
export const CSV_HEADER = `${CSV_KEYS.map(csvField).join(",")}\r\n`;

/** One record's CSV row, CRLF included. */
export function csvRow(item: SegmentItem): string {
  if (item.type === "event") {
    const rec = toJsonRecord(item);
    return `${RECORD_KEYS.map((k) => csvCell(k, rec[k])).join(",")}${EVENT_CSV_TAIL}`;
  }
  const rec: CsvValues = toJsonRecord(item);
  return `${CSV_KEYS.map((k) => csvCell(k, rec[k] ?? null)).join(",")}\r\n`;
}

function csvText(v: JsonValue): string {
  if (v === null) return "";
  return Array.isArray(v) ? v.join("|") : String(v);
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

interface Column extends TableColumn {
  cell(item: DmrecEvent | AggregateRecord): string;
}

/** A field an aggregate's scope does not keep: its calls may have had any value. */
const ANY = "<any>";

const id = (v: number | null) => (v === null ? ANY : String(v));

// CALLS is last: the one cell with spaces, generated by dmrec, so every column before it
// still splits on whitespace.
const TABLE: Column[] = [
  { title: "TIME", right: false, cell: (it) => nsToIso(it.ts_ns, 6) },
  { title: "PID", right: true, cell: (it) => id(it.pid) },
  { title: "TID", right: true, cell: (it) => id(it.tid) },
  { title: "COMM", right: false, cell: (it) => (it.comm === null ? ANY : tableText(asBytes(it.comm))) },
  { title: "UID", right: true, cell: (it) => id(it.uid) },
  { title: "NAME", right: false, cell: nameCell },
  { title: "FLAGS", right: false, cell: flagsCell },
  { title: "RESULT", right: false, cell: resultCell },
  { title: "HOOK", right: false, cell: (it) => it.hook },
  { title: "CALLS", right: false, cell: callsCell },
];

function nameCell(it: DmrecEvent | AggregateRecord): string {
  if (it.name !== null) return tableText(it.name);
  // Scopes process and all do not keep names; elsewhere a null name is a failed read.
  if (it.type === "aggregate" && it.scope !== "call") return ANY;
  const err = it.name_entry_err ?? it.name_exit_err;
  return err === null ? "<unreadable>" : `<unreadable:${errnoName(err)}>`;
}

const utf8 = new TextEncoder();

// Flag names are text from the capture, which a crafted file makes anything: escaped as names are.
function flagsCell(it: DmrecEvent | AggregateRecord): string {
  if (it.flags === null) return ANY;
  const names = it.flags_names.join("|");
  return names === "" ? "0" : tableText(utf8.encode(names));
}

function resultCell(it: DmrecEvent | AggregateRecord): string {
  // Scope all keeps no errno; its calls all failed.
  if (it.ret === null) return "failed";
  return it.ret === 0 ? "ok" : `${errnoName(it.ret)}(${it.ret})`;
}

/** `1`, or `250000 until 00:57:55.100000Z` (the date too when it is not TIME's). */
function callsCell(it: DmrecEvent | AggregateRecord): string {
  if (it.type === "event") return "1";
  const first = nsToIso(it.ts_ns, 6);
  const last = nsToIso(it.last_ts_ns, 6);
  return `${it.count} until ${last.slice(0, 11) === first.slice(0, 11) ? last.slice(11) : last}`;
}

/**
 * A loss record's row: its calls may have been anyone's, for any name, with any flags
 * (`<any>`); `ringbuf_full` loses successful calls only (docs/FORMAT.md), so its result
 * is `ok`, the others' `<any>`; no hook is recorded with it (`-`); CALLS says how many
 * were lost and why.
 */
function lossCells(loss: LossRecord): string[] {
  const result = loss.reason === "ringbuf_full" ? "ok" : ANY;
  return [nsToIso(loss.ts_ns, 6), ANY, ANY, ANY, ANY, ANY, ANY, result, "-", `${loss.count} lost (${loss.reason})`];
}

/** A clock record's row: no call of anyone's ("-"), and how far the wall clock stepped. */
function clockCells(c: ClockRecord): string[] {
  return [nsToIso(c.ts_ns, 6), "-", "-", "-", "-", "-", "-", "-", "-", `clock stepped ${stepText(c.boot_to_wall_ns - c.old_boot_to_wall_ns)}`];
}

/** A signed step in seconds, to the ns: +3600.000000000s. */
export function stepText(ns: bigint): string {
  const abs = ns < 0n ? -ns : ns;
  return `${ns < 0n ? "-" : "+"}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, "0")}s`;
}

function tableRenderer(sink: Sink, sizingRows: number): Renderer {
  const table = tableWriter(TABLE, sink, sizingRows);
  return {
    item: (item) =>
      table.row(item.type === "loss" ? lossCells(item) : item.type === "clock" ? clockCells(item) : TABLE.map((c) => c.cell(item))),
    end: table.end,
  };
}
