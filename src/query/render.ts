// Output formats of `dmrec query` and `dmrec export` for events: the JSON view of an event,
// and streaming renderers (jsonl, json, csv, table) that write through a sink, so memory
// does not grow with the number of events.

import { bytesEqual, toHex } from "../bytes.ts";
import type { DmrecEvent } from "../event.ts";
import { errnoName } from "../names.ts";
import { nsToIso } from "./time.ts";

export const FORMATS = ["table", "json", "jsonl", "csv"] as const;
export type Format = (typeof FORMATS)[number];

export type JsonValue = string | number | boolean | null | string[];

/** Receives output text in order; buffering and write errors are the caller's. */
export type Sink = (chunk: string) => void;

export interface Renderer {
  event(ev: DmrecEvent): void;
  /** Writes what a format needs after the last event (also with no events at all). */
  end(): void;
}

export interface RenderOptions {
  /** table: rows buffered to size the columns (default TABLE_SIZING_ROWS) */
  tableSizingRows?: number;
}

/**
 * The table keeps its first rows in memory to size its columns, then keeps those widths:
 * a later, wider cell pushes the rest of its own line right rather than being cut, since
 * hiding part of a name is worse than a ragged line.
 */
export const TABLE_SIZING_ROWS = 1000;

/** The keys of every toJsonRecord result, in order; also the CSV header. */
export const RECORD_KEYS = [
  "type", "time", "ts_ns", "boot_ns", "duration_ns", "hook",
  "pid", "tid", "ppid", "uid", "gid", "euid", "loginuid", "sessionid",
  "comm", "comm_hex", "parent_comm", "parent_comm_hex", "exe",
  "cgroup_id", "container_id", "mntns", "pidns", "utsns", "cap_effective", "cap_sys_module", "name_ptr",
  "name_entry", "name_entry_hex", "name_entry_err", "name_exit", "name_exit_hex", "name_exit_err",
  "name_kernel", "name_kernel_hex", "name", "name_hex",
  "flags", "flags_names", "ret", "errno", "freed", "forced", "toctou", "toctou_reason",
] as const;

export type EventRecord = { [K in (typeof RECORD_KEYS)[number]]: JsonValue };

// Every event key must appear in the record: adding a field to DmrecEvent fails to compile
// until toJsonRecord shows it (and RECORD_KEYS, which is checked against the record type).
type Complete = { [K in keyof DmrecEvent]-?: JsonValue } & EventRecord;

const utf8 = new TextEncoder();

/**
 * The JSON view of an event, keys in the order of the SPEC table: 64-bit values as exact
 * decimal strings; byte strings as escaped text (escapeBytes) plus `<key>_hex` with the
 * raw bytes; `time` as ISO 8601 UTC with nanoseconds. `comm` is treated as bytes even when
 * it is valid UTF-8 text, so one rule covers every name and attacker-chosen text cannot
 * carry control or bidi characters into a terminal or spreadsheet.
 */
export function toJsonRecord(ev: DmrecEvent): EventRecord {
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
    // 16 hex digits, as CapEff in /proc/PID/status
    cap_effective: ev.cap_effective.toString(16).padStart(16, "0"),
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
  } satisfies Complete;
}

interface BytesView {
  text: string | null;
  hex: string | null;
}

// The name fields of one event usually hold equal bytes: convert a repeat only once.
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

function asBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? utf8.encode(v) : v;
}

/**
 * Bytes as unambiguous ASCII text: printable ASCII kept, backslash as `\\`, every other
 * byte as `\xNN`. The same escapes are accepted by --module and --comm patterns.
 */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (isPlain(b)) out += String.fromCharCode(b);
    else if (b === 0x5c) out += "\\\\";
    else out += `\\x${HEX[b]}`;
  }
  return out;
}

const isPlain = (b: number) => b >= 0x20 && b < 0x7f && b !== 0x5c;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export { toHex };

export function createRenderer(format: Format, sink: Sink, options: RenderOptions = {}): Renderer {
  switch (format) {
    case "jsonl":
      return { event: (ev) => sink(`${JSON.stringify(toJsonRecord(ev))}\n`), end: () => {} };
    case "json":
      return jsonRenderer(sink);
    case "csv":
      return csvRenderer(sink);
    case "table":
      return tableRenderer(sink, options.tableSizingRows ?? TABLE_SIZING_ROWS);
  }
}

// `[`, one compact object per line separated by `,\n`, `]`: valid JSON that line tools
// can still slice.
function jsonRenderer(sink: Sink): Renderer {
  let count = 0;
  return {
    event(ev) {
      sink(`${count++ === 0 ? "[\n" : ",\n"}${JSON.stringify(toJsonRecord(ev))}`);
    },
    end() {
      sink(count === 0 ? "[]\n" : "\n]\n");
    },
  };
}

// RFC 4180: CRLF line ends, a header row, fields quoted when they hold a comma, quote or
// line break. Columns are RECORD_KEYS; null is an empty field, a list is joined with `|`.
function csvRenderer(sink: Sink): Renderer {
  let headerDone = false;
  const header = () => {
    if (!headerDone) sink(`${RECORD_KEYS.map(csvField).join(",")}\r\n`);
    headerDone = true;
  };
  return {
    event(ev) {
      header();
      const rec = toJsonRecord(ev);
      sink(`${RECORD_KEYS.map((k) => csvField(csvText(rec[k]))).join(",")}\r\n`);
    },
    end: header,
  };
}

function csvText(v: JsonValue): string {
  if (v === null) return "";
  return Array.isArray(v) ? v.join("|") : String(v);
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

interface Column {
  title: string;
  right: boolean;
  cell(ev: DmrecEvent): string;
}

// Names are escaped as in JSON, plus space and `<`: every cell is one whitespace-free
// token, so a hostile name cannot fake columns or pass for the <unreadable> marker, and a
// cell can still be pasted into --module.
const tableText = (bytes: Uint8Array) => escapeBytes(bytes).replaceAll(" ", "\\x20").replaceAll("<", "\\x3c");

const TABLE: Column[] = [
  { title: "TIME", right: false, cell: (ev) => nsToIso(ev.ts_ns, 6) },
  { title: "PID", right: true, cell: (ev) => String(ev.pid) },
  { title: "TID", right: true, cell: (ev) => String(ev.tid) },
  { title: "COMM", right: false, cell: (ev) => tableText(asBytes(ev.comm)) },
  { title: "UID", right: true, cell: (ev) => String(ev.uid) },
  { title: "NAME", right: false, cell: (ev) => (ev.name === null ? unreadable(ev) : tableText(ev.name)) },
  { title: "FLAGS", right: false, cell: (ev) => ev.flags_names.join("|") || "0" },
  { title: "RESULT", right: false, cell: (ev) => (ev.ret === 0 ? "ok" : `${errnoName(ev.ret)}(${ev.ret})`) },
  { title: "HOOK", right: false, cell: (ev) => ev.hook },
];

function unreadable(ev: DmrecEvent): string {
  const err = ev.name_entry_err ?? ev.name_exit_err;
  return err === null ? "<unreadable>" : `<unreadable:${errnoName(err)}>`;
}

function tableRenderer(sink: Sink, sizingRows: number): Renderer {
  let pending: string[][] | null = [];
  const widths = TABLE.map((c) => c.title.length);
  const line = (cells: string[]) => {
    const last = cells.length - 1;
    const padded = cells.map((text, i) => {
      if (i === last) return text;
      return TABLE[i]!.right ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
    });
    sink(`${padded.join("  ")}\n`);
  };
  const flush = () => {
    if (pending === null) return;
    for (const row of pending) row.forEach((text, i) => (widths[i] = Math.max(widths[i]!, text.length)));
    line(TABLE.map((c) => c.title));
    for (const row of pending) line(row);
    pending = null;
  };
  return {
    event(ev) {
      const row = TABLE.map((c) => c.cell(ev));
      if (pending === null) return line(row);
      pending.push(row);
      if (pending.length >= sizingRows) flush();
    },
    end: flush,
  };
}
