// What every SIEM export carries besides its schema's fields: the record exactly as
// `dmrec export --format jsonl` writes it (loss records too), the capture it was read from
// (one export may merge several hosts), the epoch units the schemas count in, and one way
// to write a JSON line.
import type { CaptureHeader, LossRecord, SegmentItem } from "../event.ts";
import { type AggregateJsonRecord, type ClockJsonRecord, type EventRecord, type JsonValue, type LossJsonRecord, toJsonRecord } from "../query/render.ts";
import { nsToIso } from "../query/time.ts";

export type { LossJsonRecord };

export type DmrecRecord = EventRecord | AggregateJsonRecord | LossJsonRecord | ClockJsonRecord;

/**
 * The exact record, 64-bit values as decimal strings and names escaped with their `_hex`:
 * query's JSON view (toJsonRecord), loss records included.
 */
export function dmrecRecord(item: SegmentItem): DmrecRecord {
  return toJsonRecord(item);
}

export function lossRecord(loss: LossRecord): LossJsonRecord {
  return toJsonRecord(loss);
}

/** A text field of a JSON record (comm, name, ...), or undefined where it is null: a schema field is then left out. */
export const textOf = (v: JsonValue): string | undefined => (typeof v === "string" ? v : undefined);

/** The capture a record came from: which host, boot and recorder, and where in its rotation set. */
export function captureRecord(h: CaptureHeader) {
  return {
    hostname: h.host.hostname,
    kernel: h.host.kernel,
    boot_id: h.host.boot_id,
    arch: h.host.arch,
    hook: h.hook,
    module_free: h.module_free,
    find_module: h.find_module,
    dmrec_version: h.dmrec_version,
    start_time: nsToIso(h.start_ns),
    set_id: h.set.id,
    file_index: h.set.file_index,
  };
}

// BigInt division truncates toward zero; a time before the epoch must not move forward.
function floorDiv(ns: bigint, unit: bigint): bigint {
  const q = ns / unit;
  return ns % unit < 0n ? q - 1n : q;
}

/** ms since the epoch (OCSF's timestamp_t): exact as a number for any i64 of ns. */
export const epochMs = (ns: bigint): number => Number(floorDiv(ns, 1_000_000n));

/** µs since the epoch (Timesketch's timestamp): past 2^53 at the ends of the i64 range, so a bigint. */
export const epochUs = (ns: bigint): bigint => floorDiv(ns, 1000n);

/** A 64-bit value as a JSON number where that is exact; otherwise the caller leaves the field to dmrec.*'s decimal string. */
export const exactNumber = (v: bigint): number | undefined =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;

// Outside strings JSON has none of these characters, so escaping them anywhere in the text
// is escaping them in strings: the parsed values do not change.
const UNSAFE = /[<>&\u007f-\uffff]/g;
const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * JSON.stringify, with `<`, `>`, `&` and everything past ASCII written as \uXXXX (as Go's
 * encoding/json does for the first three): names are already escaped to ASCII, and this
 * keeps any other text from the capture (exe, container ids) from carrying markup or
 * bidi controls into a viewer that shows the line raw, a browser or a pager.
 */
export const jsonText = (value: unknown): string => JSON.stringify(value).replace(UNSAFE, unicodeEscape);
