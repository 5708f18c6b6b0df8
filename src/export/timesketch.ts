// `dmrec export --format timesketch`: one Timesketch event per record, JSONL as its importer
// reads it: `message`, `datetime` (ISO 8601, UTC), `timestamp` (µs since the epoch) and
// `timestamp_desc` first, then the record's own fields flat, as `export --format jsonl`
// writes them, and the host and capture they came from (a sketch often merges hosts).
import type { CaptureHeader, SegmentItem } from "../event.ts";
import { nsToIso } from "../query/time.ts";
import { SEVERITY_CAPTIONS, severityOf, summary } from "./summary.ts";
import { captureRecord, dmrecRecord, epochUs, jsonText } from "./view.ts";

// What each record's time is: an event's entry, an aggregate's first call's entry, the
// moment user space noticed a loss.
const TIMESTAMP_DESC: Record<SegmentItem["type"], string> = {
  event: "delete_module entry",
  aggregate: "First aggregated delete_module entry",
  loss: "Loss noticed",
  clock: "Clock step noticed",
};

/** The event of one record, as one JSONL line. */
export function timesketchLine(item: SegmentItem, header: CaptureHeader): string {
  const head = {
    message: summary(item),
    // Timesketch keeps microseconds; the exact ns are in `time` and `ts_ns`.
    datetime: nsToIso(item.ts_ns, 6),
    timestamp_desc: TIMESTAMP_DESC[item.type],
    // plaso's convention, which Timesketch's filters and analyzers key on
    data_type: `dmrec:delete_module:${item.type}`,
  };
  const { hostname, kernel, boot_id, arch, ...capture } = captureRecord(header);
  const rest = {
    ...dmrecRecord(item),
    severity: SEVERITY_CAPTIONS[severityOf(item)],
    hostname,
    kernel,
    boot_id,
    arch,
    // The capture's own hook and times, apart from the record's.
    ...Object.fromEntries(Object.entries(capture).map(([k, v]) => [`capture_${k}`, v])),
  };
  // Written out rather than through JSON.stringify: µs at the ends of the i64 range
  // are past 2^53, and a JSON integer has no limit.
  return `${jsonText(head).slice(0, -1)},"timestamp":${epochUs(item.ts_ns)},${jsonText(rest).slice(1)}\n`;
}
