// `dmrec record`: wires signals and terminal output around the recorder library.
import { ExitCode } from "../errors.ts";
import type { AggregateRecord, BudgetRates, ClockRecord, DmrecEvent } from "../event.ts";
import type { HookChoice } from "../kernel/loader.ts";
import { loadPrivateKey } from "../keys.ts";
import { toJsonRecord } from "../query/render.ts";
import { record, type RecordStats, type RotationOptions } from "../record/recorder.ts";
import { onHangupSignal, onStopSignals } from "../runtime.ts";
import { fdSink } from "./output.ts";

export interface RecordCommandOptions {
  out: string;
  durationMs?: number;
  force: boolean;
  print: boolean;
  quiet: boolean;
  hook: HookChoice;
  segmentEvents?: number;
  segmentMs?: number;
  budget: BudgetRates;
  rotate: RotationOptions;
  /** path of the PEM private key */
  signKey?: string;
  argv: string[];
}

/** `--out -` in messages. */
const named = (out: string) => (out === "-" ? "standard output" : out);

/** The line that hands a file's first key to whoever keeps it off this host. */
const pinLine = (file: string, fingerprint: string) =>
  `dmrec: first key of ${file}: ${fingerprint} (keep it off this host; dmrec verify --pin ${fingerprint})\n`;

const summary = (s: RecordStats) => `${s.events} events, ${s.aggregated} aggregated, ${s.lost} lost, ${s.bytes} bytes`;

/**
 * --print: one JSON line per event or aggregate, as it is written. A reader
 * that goes away (`| head`) ends the printing, never the recording.
 */
function printItems(): (item: DmrecEvent | AggregateRecord | ClockRecord) => void {
  const out = fdSink(1, "stdout");
  return (item) => {
    out.write(`${JSON.stringify(toJsonRecord(item))}\n`);
    out.flush();
  };
}

export async function recordCommand(o: RecordCommandOptions): Promise<number> {
  // A bad key is an error before anything is attached or created.
  const signKey = o.signKey === undefined ? undefined : loadPrivateKey(o.signKey);
  const stop = new AbortController();
  const rotateRequest = { pending: false };
  const unhookStop = onStopSignals(() => stop.abort());
  const unhookHup = onHangupSignal(() => {
    rotateRequest.pending = true;
  });
  const statusLine = !o.quiet && process.stderr.isTTY;
  try {
    const stats = await record({
      out: o.out,
      force: o.force,
      hook: o.hook,
      durationMs: o.durationMs,
      segmentEvents: o.segmentEvents,
      segmentMs: o.segmentMs,
      budget: o.budget,
      rotate: o.rotate,
      rotateRequest,
      signKey,
      argv: o.argv,
      stop: stop.signal,
      onRotate: ({ closed, opened, fingerprint, taken, deleted, kept }) => {
        // Evidence, not chatter: what lets a file be trusted once this host is not, --quiet or not.
        process.stderr.write(`${statusLine ? "\r\x1b[K" : ""}${pinLine(opened, fingerprint)}`);
        if (o.quiet) return;
        // Someone else's file at a name the set would use: worth saying, even though recording goes on.
        const passed = taken.length ? `; passed over ${taken.map((t) => t.why).join(", ")}` : "";
        const gone = deleted.length ? `; deleted ${deleted.join(", ")} (--max-files)` : "";
        const stuck = kept.map((k) => `; could not delete ${k.file}: ${k.why}`).join("");
        process.stderr.write(`dmrec: closed ${closed}, recording to ${opened}${passed}${gone}${stuck}\n`);
      },
      onAttached: ({ plan, out, attempts, fingerprint }) => {
        process.stderr.write(pinLine(named(out), fingerprint));
        if (o.quiet) return;
        const hooks = [plan.hook, ...(plan.moduleFree ? ["module_free"] : []), ...(plan.findModule ? ["find_module"] : [])].join(" + ");
        // The chosen hook attached only after an extra was dropped: say which, and why.
        for (const a of attempts) {
          if (a.ok || a.plan.hook !== plan.hook) continue;
          const dropped = [a.plan.moduleFree && !plan.moduleFree ? "module_free" : "", a.plan.findModule && !plan.findModule ? "find_module" : ""];
          const names = dropped.filter(Boolean).join(" and ");
          if (names) process.stderr.write(`dmrec: recording without ${names}: ${a.why}\n`);
        }
        process.stderr.write(`dmrec: recording to ${named(out)} (hook ${hooks}); Ctrl-C to stop\n`);
      },
      onItem: o.print ? printItems() : undefined,
      onProgress: statusLine ? (s) => process.stderr.write(`\r\x1b[Kdmrec: ${summary(s)}`) : undefined,
    });
    if (statusLine) process.stderr.write("\r\x1b[K");
    if (!o.quiet) {
      const where = stats.files.length === 1 ? named(stats.files[0]!) : `${stats.files.length} files (${stats.files[0]} ... ${stats.files.at(-1)})`;
      process.stderr.write(`dmrec: ${where}: ${summary(stats)}\n`);
    }
    return ExitCode.ok;
  } finally {
    unhookStop();
    unhookHup();
  }
}
