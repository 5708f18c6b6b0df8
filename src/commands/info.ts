// `dmrec info`: what each capture is and holds, as text or JSON. In text,
// everything that comes from the capture is escaped as query escapes names:
// a crafted header cannot print control sequences or lines of its own.
import { checkInputs } from "../capture/scan.ts";
import { DamagedInputError } from "../errors.ts";
import type { EventBudget } from "../event.ts";
import { captureInfo, type CaptureInfo, hookDescription } from "../info.ts";
import { toHex } from "../bytes.ts";
import { asBytes, escapeBytes } from "../query/escape.ts";
import { nsToIso } from "../query/time.ts";
import { toJson } from "./json.ts";

const time = (ns: bigint | null) => (ns === null ? "-" : nsToIso(ns));
/** Text from the capture, as it may be shown. */
const shown = (text: string) => escapeBytes(asBytes(text));

function budget(b: EventBudget): string {
  const n = (v: number) => (v === 0 ? "no limit" : String(v));
  return (
    `per ${b.period_ms} ms, failing calls recorded as events: ${n(b.key)} per process, errno and name, ${n(b.process)} per process, ` +
    `${n(b.global)} in all (TOCTOU: ${n(b.toctou_process)} per process, ${n(b.toctou_global)} in all); the others aggregated`
  );
}

function signature(i: CaptureInfo): string {
  const k = i.keyChain;
  if (!k) return i.signed ? `Ed25519 by ${i.signedBy} over the seal only (checked by dmrec verify --pubkey)` : "none";
  const endorsed = k.endorsedBy ? `, endorsed by long-term key ${k.endorsedBy}` : "";
  return `each segment${i.sealed ? " and the seal" : ""} by a forward-secure key chain from first key ${k.firstKey}${endorsed} (checked by dmrec verify --pin or --pubkey)`;
}

/** One capture described in lines of "key  value". */
export function infoText(i: CaptureInfo): string {
  const h = i.header;
  const rows: [string, string][] = [
    ["file", `${i.file} (${i.bytes} bytes)`],
    ["format", `${h.format} v${h.version}, written by dmrec ${shown(h.dmrec_version)}`],
    ["host", `${shown(h.host.hostname)}, kernel ${shown(h.host.kernel)}, ${shown(h.host.arch)}, boot ${shown(h.host.boot_id)}`],
    ["hook", hookDescription(h)],
    ["started", time(h.start_ns)],
    ...(h.budget ? ([["budget", budget(h.budget)]] satisfies [string, string][]) : []),
    ["events from", `${time(i.firstTsNs)} to ${time(i.lastTsNs)}`],
    ["counts", `${i.events} events, ${i.segments} segments, ${i.losses} loss records (${i.lostCalls} calls lost)`],
    ["aggregated", `${i.aggregatedCalls} calls in ${i.aggregates} aggregate records`],
    ...(i.clockSteps > 0
      ? ([["clock", `the wall clock stepped ${i.clockSteps === 1 ? "once" : `${i.clockSteps} times`} while recording (dmrec query lists each step)`]] satisfies [string, string][])
      : []),
    ["set", `${shown(h.set.id)}, file ${h.set.file_index}${h.set.prev_file_hash ? `, after a file whose final hash is ${toHex(h.set.prev_file_hash)}` : ""}`],
    ["index", `${i.index} (${i.indexedSegments} of ${i.segments} segments)`],
    ["seal", i.seal ? `present, final hash ${toHex(i.seal.final_hash)}` : "absent: the recorder did not close this file cleanly"],
    ["signature", signature(i)],
  ];
  if (i.damage) rows.push(["damage", `${i.damage.problem} at byte ${i.damage.offset}`]);
  for (const w of i.warnings) rows.push(["warning", w]);
  return rows.map(([k, v]) => `${k.padEnd(12)} ${v}\n`).join("");
}

/** Exits 4 (README.md) when a capture is damaged, after describing what is there. */
export async function infoCommand(o: { files: string[]; json: boolean }): Promise<number> {
  checkInputs(o.files);
  const infos = o.files.map((f) => captureInfo(f));
  process.stdout.write(o.json ? `${toJson(infos)}\n` : infos.map(infoText).join("\n"));
  const damaged = infos.find((i) => i.damage);
  if (damaged) throw new DamagedInputError(damaged.file, damaged.damage!.offset, damaged.damage!.problem);
  return 0;
}
