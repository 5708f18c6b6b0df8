// What a record says in words and how much it matters, the same in every export: one
// sentence (ECS `message`, OCSF `message`, Timesketch `message`) and one severity scale, so
// that Elastic, an OCSF lake and a Timesketch sketch rank the same record alike.
import type { AggregateRecord, DmrecEvent, LossReason, SegmentItem } from "../event.ts";
import { errnoName } from "../names.ts";
import { asBytes } from "../query/escape.ts";
import { stepText } from "../query/render.ts";
import { tableText } from "../query/table.ts";
import { nsToIso } from "../query/time.ts";

/**
 * dmrec's severity of a record, numbered as OCSF's `severity_id` (ECS's
 * `event.severity` carries the same number):
 *
 * - high (4): a TOCTOU verdict (the name behind the pointer changed while the kernel
 *   used it: nothing does that by accident, it is how a caller gets a name the kernel
 *   never acted on into an audit log); a forced unload (O_TRUNC removes a module that is
 *   still in use or refuses to go, as a self-protecting security module would, and taints
 *   the kernel: rare enough in administration that someone should look now); calls lost
 *   for `ringbuf_full` (those are successful calls, docs/FORMAT.md: modules went and
 *   nobody knows which, or who removed them).
 * - medium (3): other lost calls: calls of unknown outcome went unrecorded, and a flood
 *   can provoke that on purpose; a step of the wall clock while recording (an intruder
 *   who sets the clock back can make later actions look earlier than others).
 * - low (2): a successful unload (it changes the running kernel, yet administrators do it
 *   routinely, so the analyst decides); an aggregate (a burst of failing calls past the
 *   budget is unusual: probing for hidden modules, or noise to hide something in).
 * - informational (1): a failed call: the kernel refused and nothing changed.
 */
const SEVERITY = { informational: 1, low: 2, medium: 3, high: 4 } as const;
export type Severity = (typeof SEVERITY)[keyof typeof SEVERITY];

/** OCSF's captions of those severity_id values, which its `severity` must repeat. */
export const SEVERITY_CAPTIONS: Record<Severity, string> = { 1: "Informational", 2: "Low", 3: "Medium", 4: "High" };

export function severityOf(item: SegmentItem): Severity {
  if (item.type === "loss") return item.reason === "ringbuf_full" ? SEVERITY.high : SEVERITY.medium;
  if (item.type === "clock") return SEVERITY.medium;
  if (item.toctou === true) return SEVERITY.high;
  if (item.type === "aggregate") return SEVERITY.low;
  if (item.forced) return SEVERITY.high;
  return item.ret === 0 ? SEVERITY.low : SEVERITY.informational;
}

/** The errno name of a failed call or of an aggregate's calls; null on success and in scope `all`. */
export function errnoOf(it: DmrecEvent | AggregateRecord): string | null {
  if (it.ret === null || it.ret === 0) return null;
  return it.errno ?? errnoName(it.ret);
}

const LOSS_CAUSES: Record<LossReason, string> = {
  ringbuf_full: "both ring buffers were full, so which modules were unloaded, and by whom, is unknown",
  inflight_full: "the kernel side could not keep them between entry and exit (no task storage for the thread)",
  no_exit: "their threads entered delete_module again before these calls' exits were seen",
};

/** Why calls were lost, in words. */
export const lossCause = (reason: LossReason): string => LOSS_CAUSES[reason];

/** One sentence; names and command names as in `query`'s table (one token each, so a name cannot fake the sentence). */
export function summary(item: SegmentItem): string {
  switch (item.type) {
    case "event":
      return eventSummary(item);
    case "aggregate":
      return aggregateSummary(item);
    case "loss": {
      const calls = plural(item.count, item.reason === "ringbuf_full" ? "successful delete_module call" : "delete_module call");
      return `${calls} lost: ${lossCause(item.reason)}`;
    }
    case "clock":
      return `the wall clock stepped by ${stepText(item.boot_to_wall_ns - item.old_boot_to_wall_ns)} while recording: times from then on follow it`;
  }
}

function eventSummary(ev: DmrecEvent): string {
  const who = `${tableText(asBytes(ev.comm))} (pid ${ev.pid}, uid ${ev.uid})`;
  const what =
    ev.ret === 0
      ? `unloaded kernel module ${moduleText(ev)}${ev.forced ? " by force (O_TRUNC)" : ""}`
      : `failed to unload kernel module ${moduleText(ev)}: ${errnoOf(ev)}`;
  return `${who} ${what}${toctouText(ev)}`;
}

function aggregateSummary(a: AggregateRecord): string {
  const calls = plural(a.count, "failed delete_module call");
  const who = a.comm === null || a.pid === null ? "any process" : `${tableText(asBytes(a.comm))} (pid ${a.pid}, uid ${a.uid})`;
  const target = a.scope === "call" ? `kernel module ${moduleText(a)}` : "any module name";
  const errno = errnoOf(a);
  const span = `from ${nsToIso(a.ts_ns, 6)} to ${nsToIso(a.last_ts_ns, 6)}`;
  const why = a.scope === "call" ? "" : ` (not told apart: the kernel side's table of ${a.scope === "process" ? "names" : "processes"} was full)`;
  return `${calls} by ${who} for ${target}${errno === null ? "" : `: ${errno}`}, ${span}${why}${toctouText(a)}`;
}

function moduleText(it: DmrecEvent | AggregateRecord): string {
  if (it.name !== null) return tableText(it.name);
  const err = it.name_entry_err ?? it.name_exit_err;
  return err === null ? "<unreadable>" : `<unreadable:${errnoName(err)}>`;
}

const toctouText = (it: DmrecEvent | AggregateRecord) =>
  it.toctou === true ? `; TOCTOU: the name changed during the call (${it.toctou_reason.join(", ")})` : "";

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
