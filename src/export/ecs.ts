// `dmrec export --format ecs`: one Elastic Common Schema document per record, one per line
// (NDJSON, as Elasticsearch's _bulk API and Filebeat's ndjson parser take it). Fields are
// ECS 9.4.0's, categorised as auditbeat categorises a delete_module call (go-libaudit's
// normalizations: action unloaded-kernel-module, category driver, type end), plus
// auditbeat's `auditd.data.syscall`, so that Elastic's auditd-based rules match these
// documents too. ECS has no field for a module name: that, and everything else dmrec
// knows, sits under `dmrec.*` exactly as `export --format jsonl` writes it.
// test/unit/export.test.ts checks every field against the vendored ecs_flat.yml.
import type { AggregateRecord, CaptureHeader, DmrecEvent, LossRecord, SegmentItem } from "../event.ts";
import { type AggregateJsonRecord, type EventRecord, toJsonRecord } from "../query/render.ts";
import { nsToIso } from "../query/time.ts";
import { ECS_VERSION } from "./formats.ts";
import { errnoOf, lossCause, severityOf, summary } from "./summary.ts";
import { captureRecord, type DmrecRecord, exactNumber, jsonText, lossRecord, textOf } from "./view.ts";

export { ECS_VERSION };

// auditbeat names the syscall, whatever its result: a failed call is the same action
// with outcome failure, so a rule can pick either.
const CATEGORISED = {
  category: ["driver"],
  type: ["end"],
  action: "unloaded-kernel-module",
} as const;

/** The document of one record, as one NDJSON line. */
export function ecsLine(item: SegmentItem, header: CaptureHeader): string {
  if (item.type === "loss") return line(item, lossRecord(item), lossFields(item), header);
  if (item.type === "clock") return line(item, toJsonRecord(item), CLOCK_FIELDS, header);
  const rec = toJsonRecord(item);
  return line(item, rec, callFields(item, rec), header);
}

function line(item: SegmentItem, rec: DmrecRecord, fields: object, header: CaptureHeader): string {
  const doc = {
    "@timestamp": nsToIso(item.ts_ns),
    ecs: { version: ECS_VERSION },
    message: summary(item),
    ...fields,
    host: {
      name: header.host.hostname,
      hostname: header.host.hostname,
      architecture: header.host.arch,
      boot: { id: header.host.boot_id },
      os: { type: "linux", kernel: header.host.kernel },
    },
    agent: { type: "dmrec", version: header.dmrec_version },
    // For Elastic's auditd-based rules: every record but a clock step is about delete_module calls.
    ...(item.type === "clock" ? {} : { auditd: { data: { syscall: "delete_module" } } }),
    dmrec: { ...rec, capture: captureRecord(header) },
  };
  return `${jsonText(doc)}\n`;
}

const MODULE = { module: "dmrec", dataset: "dmrec.delete_module" } as const;

// Events and aggregates: `event.kind: event` for both. ECS keeps `metric` for measurements
// of a quantity taken at a point in time (CPU use, a temperature); an aggregate counts
// calls that each happened and each would have been an event document, so it stays an
// event, categorised like them, found by the same queries and rules, with how many calls
// it stands for in dmrec.count and its span in event.start/end (dmrec.ts_ns and
// dmrec.last_ts_ns exact).
function callFields(it: DmrecEvent | AggregateRecord, rec: EventRecord | AggregateJsonRecord) {
  const errno = errnoOf(it);
  const span =
    it.type === "aggregate"
      ? { start: nsToIso(it.ts_ns), end: nsToIso(it.last_ts_ns), duration: exactNumber(it.last_ts_ns - it.ts_ns) }
      : { duration: exactNumber(it.duration_ns) };
  const tags = [...(it.type === "event" && it.forced ? ["forced-unload"] : []), ...(it.toctou === true ? ["toctou"] : [])];
  return {
    event: {
      kind: "event",
      ...CATEGORISED,
      // An aggregate's calls all failed, also in scope all, which keeps no errno.
      outcome: it.ret === 0 ? "success" : "failure",
      code: errno ?? undefined,
      severity: severityOf(it),
      ...span,
      ...MODULE,
    },
    ...(errno === null ? {} : { error: { code: errno, message: `delete_module returned ${it.ret} (${errno})` } }),
    ...processFields(it, rec),
    ...(tags.length > 0 ? { tags } : {}),
  };
}

// A clock record: the host's wall clock changed (ECS category host, type change); the step
// is in dmrec.step_ns.
const CLOCK_FIELDS = {
  event: { kind: "event", category: ["host"], type: ["change"], action: "clock-stepped", severity: 3, ...MODULE },
};

// Loss records: `event.kind: pipeline_error`, which ECS defines as "an error occurred
// during the ingestion of this event, and event data may be missing": the kernel side saw
// the calls and could not hand them over. (`alert` is for detections by a rule engine,
// which this is not.) They were delete_module calls, so they keep the action and
// category; `ringbuf_full` loses only successful calls, the others calls of unknown
// outcome.
function lossFields(loss: LossRecord) {
  return {
    event: {
      kind: "pipeline_error",
      ...CATEGORISED,
      outcome: loss.reason === "ringbuf_full" ? "success" : "unknown",
      severity: severityOf(loss),
      ...MODULE,
    },
    error: { code: loss.reason, message: lossCause(loss.reason) },
  };
}

// Who called: an aggregate of scope all knows nobody, and says nothing here.
function processFields(it: DmrecEvent | AggregateRecord, rec: EventRecord | AggregateJsonRecord) {
  return {
    ...(it.pid === null
      ? {}
      : {
          process: {
            pid: it.pid,
            name: textOf(rec.comm),
            executable: it.exe ?? undefined,
            // Escaped as names are (dmrec.argv_hex has the bytes): rules match on the text.
            ...(rec.argv === null ? {} : { args: rec.argv, args_count: (rec.argv as string[]).length, command_line: (rec.argv as string[]).join(" ") }),
            ...(it.tid === null ? {} : { thread: { id: it.tid } }),
            ...(it.ppid === null
              ? {}
              : { parent: { pid: it.ppid, name: textOf(rec.parent_comm), ...(it.parent_exe === null ? {} : { executable: it.parent_exe }) } }),
          },
        }),
    ...(it.uid === null
      ? {}
      : {
          user: {
            id: String(it.uid),
            ...(it.euid === null ? {} : { effective: { id: String(it.euid) } }),
            ...(it.gid === null ? {} : { group: { id: String(it.gid) } }),
          },
        }),
    ...(it.container_id === null ? {} : { container: { id: it.container_id } }),
  };
}
