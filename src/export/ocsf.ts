// `dmrec export --format ocsf`: one OCSF 1.8.0 event per record, one per line, as an OCSF
// data lake ingests them. A delete_module call is Kernel Extension Activity (class_uid
// 1002, System Activity) with activity Unload; the exact record rides along in `unmapped`.
// test/unit/export.test.ts checks every attribute, required attribute and enum value
// against the vendored schema files.
import type { AggregateRecord, CaptureHeader, DmrecEvent, LossRecord, SegmentItem } from "../event.ts";
import { type AggregateJsonRecord, type EventRecord, toJsonRecord } from "../query/render.ts";
import { nsToIso } from "../query/time.ts";
import { OCSF_VERSION } from "./formats.ts";
import { errnoOf, SEVERITY_CAPTIONS, severityOf, summary } from "./summary.ts";
import { captureRecord, type DmrecRecord, epochMs, jsonText, lossRecord, textOf } from "./view.ts";

export { OCSF_VERSION };

const KERNEL_EXTENSION_UNLOAD = {
  class_uid: 1002,
  class_name: "Kernel Extension Activity",
  category_uid: 1,
  category_name: "System Activity",
  activity_id: 2,
  activity_name: "Unload",
  type_uid: 1002 * 100 + 2,
  type_name: "Kernel Extension Activity: Unload",
} as const;

/**
 * Kernel Extension Activity requires the actor and the driver (its file's name). A loss
 * record knows neither, an aggregate of scope `all` no actor, and inventing them would
 * mislead: they are OCSF's Base Event, "a generic and concrete event ... used to log
 * events that are not otherwise defined by the schema", with activity Other named
 * Unload, since each call was an attempt to unload, their `count`, and the host
 * through the `host` profile.
 */
const BASE_EVENT_UNLOAD = {
  class_uid: 0,
  class_name: "Base Event",
  category_uid: 0,
  category_name: "Uncategorized",
  activity_id: 99,
  activity_name: "Unload",
  type_uid: 99,
  type_name: "Base Event: Other",
} as const;

/** A clock record is no call at all: a Base Event of activity Other, what happened in its message. */
const CLOCK_EVENT = {
  class_uid: 0,
  class_name: "Base Event",
  category_uid: 0,
  category_name: "Uncategorized",
  activity_id: 99,
  activity_name: "Clock Step",
  type_uid: 99,
  type_name: "Base Event: Other",
  status_id: 0,
  status: "Unknown",
} as const;

// The Linux extension's profile adds euid, auid and the group to a process.
const LINUX_USERS = "linux/linux_users";
const LINUX_EXTENSION = { name: "linux", uid: "1", version: OCSF_VERSION };
const HOST = "host";

/** loginuid and sessionid when the audit subsystem never set them. */
const AUDIT_UNSET = 4294967295;

/** The event of one record, as one NDJSON line. */
export function ocsfLine(item: SegmentItem, header: CaptureHeader): string {
  if (item.type === "loss") return line(item, lossRecord(item), lossFields(item), header);
  if (item.type === "clock") return line(item, toJsonRecord(item), CLOCK_EVENT, header);
  const rec = toJsonRecord(item);
  const actor = actorOf(item, rec);
  const fields = actor === undefined ? { ...BASE_EVENT_UNLOAD, ...callStatus(item) } : { ...KERNEL_EXTENSION_UNLOAD, ...callStatus(item) };
  return line(item, rec, fields, header, actor && { actor, driver: driverOf(rec) });
}

function line(item: SegmentItem, rec: DmrecRecord, fields: object, header: CaptureHeader, unload?: object): string {
  const severity = severityOf(item);
  const event = {
    ...fields,
    time: epochMs(item.ts_ns),
    timezone_offset: 0,
    severity_id: severity,
    severity: SEVERITY_CAPTIONS[severity],
    ...(item.type === "aggregate" ? span(item) : {}),
    ...(item.type === "loss" ? { count: item.count } : {}),
    message: summary(item),
    ...unload,
    device: {
      type_id: 0,
      type: "Unknown",
      hostname: header.host.hostname,
      boot_uid: header.host.boot_id,
      os: { name: "Linux", type_id: 200, type: "Linux", kernel_release: header.host.kernel },
    },
    metadata: {
      version: OCSF_VERSION,
      product: { name: "dmrec", version: header.dmrec_version },
      // The exact time; `time` has whole milliseconds.
      original_time: nsToIso(item.ts_ns),
      ...(unload === undefined ? { profiles: [HOST] } : { profiles: [LINUX_USERS], extensions: [LINUX_EXTENSION] }),
    },
    unmapped: { dmrec: { ...rec, capture: captureRecord(header) } },
  };
  return `${jsonText(event)}\n`;
}

// status_code is what the source reported, the raw return value; status_detail names it.
function callStatus(it: DmrecEvent | AggregateRecord) {
  if (it.ret === 0) {
    const forced = it.type === "event" && it.forced;
    return { status_id: 1, status: "Success", status_code: "0", ...(forced ? { status_detail: "forced unload (O_TRUNC)" } : {}) };
  }
  const errno = errnoOf(it);
  return {
    status_id: 2,
    status: "Failure",
    ...(it.ret === null ? {} : { status_code: String(it.ret) }),
    ...(errno === null ? {} : { status_detail: errno }),
  };
}

// ringbuf_full loses only successful calls (docs/FORMAT.md); the others, calls of unknown outcome.
function lossFields(loss: LossRecord) {
  const status = loss.reason === "ringbuf_full" ? { status_id: 1, status: "Success" } : { status_id: 0, status: "Unknown" };
  return { ...BASE_EVENT_UNLOAD, ...status, status_detail: loss.reason };
}

function span(a: AggregateRecord) {
  const start = epochMs(a.ts_ns);
  const end = epochMs(a.last_ts_ns);
  return { count: a.count, start_time: start, end_time: end, duration: end - start };
}

/** The calling process and user; undefined when the record keeps neither (an aggregate of scope all). */
function actorOf(it: DmrecEvent | AggregateRecord, rec: EventRecord | AggregateJsonRecord) {
  if (it.pid === null && it.uid === null) return undefined;
  const process =
    it.pid === null
      ? undefined
      : {
          pid: it.pid,
          // OCSF 1.6 deprecated tid for ptid
          ptid: it.tid ?? undefined,
          name: textOf(rec.comm),
          ...(it.exe === null ? {} : { file: executable(it.exe) }),
          ...(rec.argv === null ? {} : { cmd_line: (rec.argv as string[]).join(" ") }),
          ...(it.ppid === null
            ? {}
            : { parent_process: { pid: it.ppid, name: textOf(rec.parent_comm), ...(it.parent_exe === null ? {} : { file: executable(it.parent_exe) }) } }),
          euid: it.euid ?? undefined,
          auid: it.loginuid === null || it.loginuid === AUDIT_UNSET ? undefined : it.loginuid,
          ...(it.gid === null ? {} : { group: { uid: String(it.gid) } }),
        };
  // uid 0 is root by definition, OCSF's Admin; any other uid could be a person or a service.
  const user = it.uid === null ? undefined : { uid: String(it.uid), ...(it.uid === 0 ? { type_id: 2, type: "Admin" } : {}) };
  return { process, user };
}

// /proc/PID/exe is the file the process executes.
function executable(path: string) {
  return { name: path.slice(path.lastIndexOf("/") + 1) || path, path, type_id: 8, type: "Executable File" };
}

/**
 * The module, by the name dmrec shows (escaped as in query; `unmapped.dmrec.name_hex` has
 * the bytes). dmrec never sees a .ko file, only a name, so the file type is Unknown.
 * `name` is required: when no read of it succeeded, or an aggregate of scope process
 * kept none, it is the empty string, which OCSF uses for a value that is unavailable
 * (its guidance for cmd_line); `unmapped.dmrec.name_hex` is then null.
 */
function driverOf(rec: EventRecord | AggregateJsonRecord) {
  return { file: { name: textOf(rec.name) ?? "", type_id: 0, type: "Unknown" } };
}
