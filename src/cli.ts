// The command line: parses arguments, calls the library, prints. Nothing
// else in src/ prints or exits.
import yargs, { type Argv } from "yargs";
import { DEFAULT_CAPTURE } from "./capture/sets.ts";
import { ExitCode, UsageError } from "./errors.ts";
import { DEFAULT_BUDGET, HOOK_NAMES } from "./event.ts";
import type { FilterOptions } from "./query/filter.ts";
import { ECS_VERSION, EXPORT_FORMATS, type ExportFormat, OCSF_VERSION } from "./export/formats.ts";
import { FORMATS, type Format } from "./query/render.ts";
import { VERSION } from "./version.ts";

const FILES = `capture files, - for standard input (default: ./${DEFAULT_CAPTURE} and the rest of its rotation set)`;

/** "1048576", "512K", "100M", "2G" (powers of 1024) -> bytes. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?B?|B)?$/i.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`${option}: cannot parse "${text}" (use bytes or 512K, 100M, 2G)`);
  const unit = { "": 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m[2] ?? "").charAt(0).toUpperCase()]!;
  return Math.round(Number(m[1]) * unit);
}

/** "90", "90s", "5m", "2h", "1d" -> milliseconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${option}: cannot parse "${text}" (use a number of seconds or 500ms, 30s, 5m, 2h, 1d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * unit;
}

function positiveDuration(text: string, option: string): number {
  const ms = parseDuration(text, option);
  if (ms <= 0) throw new UsageError(`${option}: must be longer than 0, got "${text}"`);
  return ms;
}

/** A budget rate: calls per second, or "unlimited" (the kernel side's 0). */
function budgetRate(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === "unlimited") return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 2 ** 32 - 1) {
    throw new UsageError(`${option}: expected a number of events per second (1 to 4294967295) or "unlimited", got "${value}"`);
  }
  return n;
}

/** `record --out -`: one capture on standard output, which nothing else may write to, and no terminal. */
function checkStreamOut(a: Record<string, unknown>): void {
  for (const o of ["rotate-size", "rotate-every", "max-files"]) {
    if (a[o] !== undefined) throw new UsageError(`--${o}: a capture written to standard output (--out -) is not rotated`);
  }
  if (a.print) throw new UsageError("--print: standard output holds the capture (--out -)");
  if (process.stdout.isTTY) throw new UsageError("--out -: standard output is a terminal; pipe or redirect it");
}

function positiveInt(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${option}: expected a positive integer, got "${value}"`);
  return n;
}

/**
 * The captures to read and the filters shared by query, export and stats. A
 * repeatable filter takes one value per use: the captures after it are files.
 */
function selectionOptions<T>(y: Argv<T>) {
  return y
    .positional("files", { type: "string", array: true, describe: FILES })
    .option("module", { type: "string", array: true, nargs: 1, describe: "module name, exact or glob (* ? [..]); repeatable" })
    .option("pid", { type: "string", array: true, nargs: 1, describe: "process id; repeatable" })
    .option("ppid", { type: "string", array: true, nargs: 1, describe: "parent process id; repeatable" })
    .option("uid", { type: "string", array: true, nargs: 1, describe: "user id; repeatable" })
    .option("comm", { type: "string", array: true, nargs: 1, describe: "command name, exact or glob; repeatable" })
    .option("result", { type: "string", describe: "ok, failed, or an errno name such as ENOENT" })
    .option("since", { type: "string", describe: "ISO 8601 time, or relative such as 2h" })
    .option("until", { type: "string", describe: "ISO 8601 time, or relative such as 10m" })
    .option("forced", { type: "boolean", describe: "only forced unloads (O_TRUNC, succeeded)" })
    .option("toctou", { type: "boolean", describe: "only calls whose name changed between reads (toctou true)" })
    .option("events-only", { type: "boolean", describe: "individual events only, no aggregate records (summaries of floods of failing calls)" });
}

/** query and export: the same selection and --limit, different output; loss records come out too. */
function listOptions<T>(y: Argv<T>) {
  return selectionOptions(y)
    .option("events-only", { type: "boolean", describe: "individual events only: no aggregate records (summaries of floods of failing calls), no loss records" })
    .option("limit", { type: "number", describe: "stop after this many records (events, aggregates and losses)" })
    .epilogue(
      "Loss records (calls the kernel side saw but could not report) come out in time order with the rest. " +
        "They cannot be attributed to a process, name or result, so their calls may be any of those the filters ask for: " +
        "only --since/--until (by when the loss was noticed) and --events-only (which leaves them out) apply to them; every other filter keeps them.",
    );
}

/** query and export: the same selection, different output. */
async function runQuery(
  a: FilterOptions & { files: unknown; limit?: number },
  output: { format: Format | ExportFormat; count: boolean; out?: string; force?: boolean },
): Promise<number> {
  const { queryCommand } = await import("./commands/query.ts");
  return queryCommand({ files: await capturesOf(a.files), filter: a, limit: positiveInt(a.limit, "--limit"), ...output });
}

/** --pin values: fingerprints of 64 hex digits, lower-cased. */
function pinsOf(pins: string[] | undefined): string[] {
  return (pins ?? []).map((p) => {
    if (!/^[0-9a-fA-F]{64}$/.test(p)) throw new UsageError(`--pin: expected a key fingerprint of 64 hex digits, got "${p}"`);
    return p.toLowerCase();
  });
}

/** Stands for "-" (standard input) while yargs parses: it drops a lone "-". */
const STDIN = "\u0000stdin";

/**
 * The captures named, "-" restored; none named: ./capture.cbor.zst and the
 * rest of its rotation set, each file passed over said on stderr.
 */
async function capturesOf(files: unknown): Promise<string[]> {
  const named = ((files ?? []) as string[]).map((f) => (f === STDIN ? "-" : f));
  if (named.length) return named;
  const { defaultCaptureSet } = await import("./capture/default_set.ts");
  const set = defaultCaptureSet(".");
  for (const p of set.passedOver) process.stderr.write(`dmrec: passing over ${p.file}: ${p.why} (name it to read it)\n`);
  return set.files;
}

/**
 * getopt's rule, which yargs lacks: a token that starts with "-" and a digit
 * right after a long option is that option's value ("--rotate-every -1h"),
 * not the short flags -1 and -h (which printed help and exited 0). Joined as
 * --option=value, the value then meets the option's own check.
 */
function joinDashedValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]! === "-" ? STDIN : args[i]!;
    const next = args[i + 1];
    if (/^--[a-z][a-z-]*$/.test(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** The option as the user typed it in the first token that gave it. */
const spelled = (name: string, args: string[]) => args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`))?.split("=")[0] ?? `--${name}`;

/**
 * What yargs lets through: an option given twice (it makes an array of any
 * option, which then failed as an internal error), and a value given to a
 * boolean option (`--forced=maybe` was read as false).
 */
function checkRepeatsAndFlags(args: string[]) {
  type Options = { array?: string[]; boolean?: string[]; key?: Record<string, boolean>; alias?: Record<string, string[]> };
  return (argv: Record<string, unknown>, options: Options) => {
    const repeatable = new Set(options.array ?? []);
    const aliases = options.alias ?? {};
    const tokens = (name: string) => [name, ...(aliases[name] ?? [])].map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
    for (const name of Object.keys(options.key ?? {})) {
      if (repeatable.has(name) || name.length === 1) continue;
      // A repeated flag collapses into one `true`: count the tokens as well.
      const given = args.filter((a) => tokens(name).some((t) => a === t || a.startsWith(`${t}=`))).length;
      if (Array.isArray(argv[name]) || given > 1) throw new UsageError(`${spelled(name, args)}: given more than once`);
    }
    for (const name of options.boolean ?? []) {
      const given = args.find((a) => a.startsWith(`--${name}=`));
      if (given) throw new UsageError(`--${name}: takes no value, got "${given.slice(given.indexOf("=") + 1)}"`);
    }
    return true;
  };
}

export async function runCli(rawArgs: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const args = joinDashedValues(rawArgs);
  await yargs(args)
    .scriptName("dmrec")
    .usage("$0 <command> [options]\n\nForensic recorder for Linux kernel-module unloads (delete_module).")
    .version(VERSION)
    .strict()
    .demandCommand(1, "give a command: record, query, export, stats, report, info, verify, keygen, doctor or completion")
    .recommendCommands()
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs' own parse errors (an option without its value) are usage errors; ours pass on.
      throw err === undefined || err === null || err.name === "YError" ? new UsageError(msg ?? err?.message) : err;
    })
    .check(checkRepeatsAndFlags(args))
    .command(
      "record",
      "record every delete_module call until Ctrl-C (needs root)",
      (y) =>
        y
          .option("out", { alias: "o", type: "string", default: DEFAULT_CAPTURE, describe: "capture file to create; - writes it to standard output as it is recorded" })
          .option("duration", { type: "string", describe: "stop after this long (30s, 5m, 2h)" })
          .option("force", { type: "boolean", default: false, describe: "overwrite an existing capture" })
          .option("print", { type: "boolean", default: false, describe: "also print each event on stdout (JSON lines)" })
          .option("quiet", { alias: "q", type: "boolean", default: false, describe: "no status line or summary (each file's first-key fingerprint is still printed)" })
          .option("hook", {
            choices: ["auto", ...HOOK_NAMES] as const,
            default: "auto" as const,
            describe: "kernel hook; auto: the first of kprobe, tracepoint, raw-syscalls that attaches",
          })
          .option("segment-events", { type: "number", describe: "close a segment after this many items (default 4096)" })
          .option("segment-ms", { type: "number", describe: "close a segment after this many ms (default 1000)" })
          .option("rotate-size", { type: "string", describe: "start a new file at this size (100M, 1G); SIGHUP also rotates" })
          .option("rotate-every", { type: "string", describe: "start a new file after this long (1h, 1d)" })
          .option("max-files", { type: "number", describe: "keep only the newest N files of the set, deleting older ones" })
          .option("sign-key", { type: "string", describe: "long-term Ed25519 private key (PEM, from dmrec keygen) that vouches for each file's key chain" })
          .option("budget-key", { type: "string", describe: `failing calls per second recorded individually per process, errno and name (default ${DEFAULT_BUDGET.key}); beyond, counted in aggregates` })
          .option("budget-process", { type: "string", describe: `the same per process (default ${DEFAULT_BUDGET.process})` })
          .option("budget-global", { type: "string", describe: `the same across all processes (default ${DEFAULT_BUDGET.global})` })
          .option("budget-toctou-process", { type: "string", describe: `calls whose name changed between reads, per process (default ${DEFAULT_BUDGET.toctou_process})` })
          .option("budget-toctou-global", { type: "string", describe: `the same across all processes (default ${DEFAULT_BUDGET.toctou_global}); every budget also takes "unlimited"` })
          .example("$0 record", "record to ./capture.cbor.zst until Ctrl-C")
          .example("$0 record --out /var/lib/dmrec/c.cbor.zst --rotate-every 1h --max-files 48 --sign-key dmrec.key", "continuous, rotated and signed")
          .example("$0 record --out - | ssh collector 'cat > host1.cbor.zst'", "ship the capture off the host as it is written"),
      async (a) => {
        const out = a.out === STDIN ? "-" : a.out;
        if (out === "-") checkStreamOut(a);
        const { recordCommand } = await import("./commands/record.ts");
        exitCode = await recordCommand({
          out,
          durationMs: a.duration === undefined ? undefined : positiveDuration(a.duration, "--duration"),
          force: a.force,
          print: a.print,
          quiet: a.quiet,
          hook: a.hook,
          segmentEvents: positiveInt(a["segment-events"], "--segment-events"),
          segmentMs: positiveInt(a["segment-ms"], "--segment-ms"),
          rotate: {
            sizeBytes: a["rotate-size"] === undefined ? undefined : parseSize(a["rotate-size"], "--rotate-size"),
            everyMs: a["rotate-every"] === undefined ? undefined : positiveDuration(a["rotate-every"], "--rotate-every"),
            maxFiles: positiveInt(a["max-files"], "--max-files"),
          },
          signKey: a["sign-key"],
          budget: {
            key: budgetRate(a["budget-key"], "--budget-key", DEFAULT_BUDGET.key),
            process: budgetRate(a["budget-process"], "--budget-process", DEFAULT_BUDGET.process),
            global: budgetRate(a["budget-global"], "--budget-global", DEFAULT_BUDGET.global),
            toctou_process: budgetRate(a["budget-toctou-process"], "--budget-toctou-process", DEFAULT_BUDGET.toctou_process),
            toctou_global: budgetRate(a["budget-toctou-global"], "--budget-toctou-global", DEFAULT_BUDGET.toctou_global),
          },
          argv: ["dmrec", ...rawArgs],
        });
      },
    )
    .command(
      "doctor",
      "show what this kernel supports and which hook record would use",
      (y) =>
        y
          .option("json", { type: "boolean", default: false, describe: "print the report as JSON" })
          .example("$0 doctor", "which hooks attach here, and why the others do not")
          .example("$0 doctor --json", "the same for a fleet inventory"),
      async (a) => {
        const { doctorCommand } = await import("./commands/doctor.ts");
        exitCode = await doctorCommand({ json: a.json });
      },
    )
    .command(
      "verify [files..]",
      "check that captures (or a rotation set) are complete and unaltered",
      (y) =>
        y
          .positional("files", { type: "string", array: true, describe: FILES })
          .option("pin", {
            type: "string",
            array: true,
            // One fingerprint per --pin: the files after it are positional.
            nargs: 1,
            describe: "fingerprint of a file's first key, as record printed it: the key chain must start there (repeatable, one per set or file)",
          })
          .option("pubkey", { type: "string", describe: "long-term Ed25519 public key (PEM) of record --sign-key: it must vouch for each file's key chain" })
          .option("json", { type: "boolean", default: false, describe: "print the report as JSON" })
          .example("$0 verify", "./capture.cbor.zst and the rest of its rotation set")
          .example("$0 verify --pin 3f2a...e9 capture.cbor.zst capture.0000*.cbor.zst", "a whole rotation set, trusted from the fingerprint record printed")
          .example("$0 verify --pubkey dmrec.pub host1.cbor.zst", "a capture recorded with --sign-key dmrec.key"),
      async (a) => {
        const { verifyCommand } = await import("./commands/verify.ts");
        exitCode = await verifyCommand({ files: await capturesOf(a.files), pubkey: a.pubkey, pins: pinsOf(a.pin), json: a.json });
      },
    )
    .command(
      "info [files..]",
      "show each capture's header, time range, counts, seal, signature and index",
      (y) =>
        y
          .positional("files", { type: "string", array: true, describe: FILES })
          .option("json", { type: "boolean", default: false, describe: "print as JSON" })
          .example("$0 info", "./capture.cbor.zst and the rest of its rotation set")
          .example("$0 info host1.cbor.zst --json", "one capture's header and counts as JSON"),
      async (a) => {
        const { infoCommand } = await import("./commands/info.ts");
        exitCode = await infoCommand({ files: await capturesOf(a.files), json: a.json });
      },
    )
    .command(
      "keygen",
      "make an Ed25519 key pair for record --sign-key and verify --pubkey",
      (y) =>
        y
          .option("out", { alias: "o", type: "string", default: "dmrec", describe: "writes OUT.key and OUT.pub" })
          .option("force", { type: "boolean", default: false, describe: "overwrite existing key files" })
          .example("$0 keygen --out /etc/dmrec/host1", "writes /etc/dmrec/host1.key (keep it on the host) and host1.pub (give it to whoever verifies)"),
      async (a) => {
        const { keygenCommand } = await import("./commands/keygen.ts");
        exitCode = await keygenCommand({ out: a.out, force: a.force });
      },
    )
    .command(
      "query [files..]",
      "show the events and aggregate records of one or more captures that match the filters, and their loss records",
      (y) =>
        listOptions(y)
          .option("format", { choices: FORMATS, default: "table" as const })
          .option("count", {
            type: "boolean",
            default: false,
            describe: "print only the number of matching calls (an event is one call, an aggregate its count; lost calls are not counted: stats totals them)",
          })
          .example("$0 query --module foo", "every call that named foo, in ./capture.cbor.zst and its rotation set")
          .example("$0 query capture*.cbor.zst --result ENOENT --since 2h --format jsonl", "names that were not loaded, last two hours")
          .example("$0 query --forced --count", "how many forced unloads succeeded"),
      async (a) => {
        exitCode = await runQuery(a, { format: a.format, count: a.count });
      },
    )
    .command(
      "export [files..]",
      "write the matching events, aggregate records and loss records of captures as JSON lines, JSON or CSV, or for a SIEM as ECS, OCSF or Timesketch documents",
      (y) =>
        listOptions(y)
          .option("format", {
            choices: ["jsonl", "json", "csv", ...EXPORT_FORMATS] as const,
            demandOption: true,
            describe:
              `jsonl, json, csv: dmrec's own records; ecs (Elastic Common Schema ${ECS_VERSION}), ocsf (OCSF ${OCSF_VERSION}), timesketch: ` +
              "one JSON document a line, each with the host of the capture it came from",
          })
          .option("out", { alias: "o", type: "string", describe: "file to write (default: stdout)" })
          .option("force", { type: "boolean", default: false, describe: "overwrite --out if it exists" })
          .example("$0 export --format csv --out unloads.csv", "./capture.cbor.zst and its rotation set, for a spreadsheet")
          .example("$0 export --format ecs > unloads.ndjson", "Elastic Common Schema documents, for Filebeat or the _bulk API")
          .example("$0 export host1.cbor.zst host2.cbor.zst --format ocsf --out unloads.ocsf.jsonl", "two hosts merged in time order as OCSF events, each naming its own host")
          .example("$0 export capture*.cbor.zst --format timesketch --since 1d --out sketch.jsonl", "the last day as a Timesketch timeline"),
      async (a) => {
        exitCode = await runQuery(a, { format: a.format, count: false, out: a.out, force: a.force });
      },
    )
    .command(
      "stats [files..]",
      "count calls per process, name and errno, or per --by key, or per time bucket (--histogram): individually recorded, aggregated and in total",
      (y) =>
        selectionOptions(y)
          .option("json", { type: "boolean", default: false, describe: "print one JSON object: totals and groups (or buckets)" })
          // A comma list rather than a repeatable option: a repeatable one would take the
          // capture named after it (`--by module capture.cbor.zst`) as a key.
          .option("by", {
            type: "string",
            describe: "group by module, process (pid and comm), errno (the result), hour (UTC) or uid instead of pid, comm, name and errno; a comma list (module,errno) for a composite key",
          })
          .option("histogram", { type: "boolean", default: false, describe: "calls per time bucket as a bar chart (ok, failed), from the first call to the last, empty buckets too" })
          .option("bucket", { type: "string", describe: "--histogram's bucket size (10s, 5m, 1h; default: the first of 1ms, 10ms, ..., 1s, 10s, 1m, 10m, 1h, 1d giving at most 40)" })
          .example("$0 stats capture.cbor.zst", "who called delete_module how often, largest first")
          .example("$0 stats capture.*.cbor.zst --result failed --since 1h --json", "failing calls of the last hour, as JSON")
          .example("$0 stats --by module,errno", "calls per name and result: a burst of ENOENT for one name (a module hidden from lsmod?) stands out")
          .example("$0 stats --by process --result ok", "who unloaded modules")
          .example("$0 stats --histogram", "calls over time: floods, bursts and gaps")
          .example("$0 stats --histogram --bucket 10m --module nosuch --json", "one name's calls per 10 minutes, as JSON")
          .epilogue(
            "Filters apply to events and aggregates. Lost calls (loss records: calls the kernel side could not report) " +
              "cannot be attributed to a process or name: the total counts every one in the files read, whatever the filters. " +
              "<null> (null in JSON): a field the group has no value for, because an aggregate's scope did not keep it " +
              "or the name could not be read. --histogram counts all of an aggregate's calls in the bucket of its first call " +
              "(the record keeps no time between its first and last call) and marks the later buckets its span reaches with ~; " +
              "to draw one group's calls, select it with the filters.",
          ),
      async (a) => {
        if (a.bucket !== undefined && !a.histogram) throw new UsageError("--bucket: only with --histogram");
        if (a.by !== undefined && a.histogram) throw new UsageError("--by: not with --histogram (select a group with --module, --pid, --result, ... instead)");
        const { parseStatsBy } = await import("./query/stats.ts");
        const { bucketFromMs } = await import("./query/histogram.ts");
        const by = parseStatsBy(a.by);
        const bucketNs = a.bucket === undefined ? null : bucketFromMs(positiveDuration(a.bucket, "--bucket"));
        const { statsCommand } = await import("./commands/stats.ts");
        exitCode = await statsCommand({ files: await capturesOf(a.files), filter: a, json: a.json, by, histogram: a.histogram, bucketNs });
      },
    )
    .command(
      "report [files..]",
      "a report to attach to an incident ticket: verify's verdict, the host, the calls that matter, floods, losses and damage, as Markdown or as one self-contained web page",
      (y) =>
        selectionOptions(y)
          .positional("files", { type: "string", array: true, describe: `capture files (default: ./${DEFAULT_CAPTURE} and the rest of its rotation set); not standard input, which report would read twice` })
          .option("format", { choices: ["md", "html"] as const, default: "md" as const, describe: "md: Markdown for a ticket (GitHub, GitLab, Jira); html: one page with a timeline, needing nothing else" })
          .option("out", { alias: "o", type: "string", describe: "file to write (default: stdout)" })
          .option("force", { type: "boolean", default: false, describe: "overwrite --out if it exists" })
          .option("pin", { type: "string", array: true, nargs: 1, describe: "as for verify: fingerprint of a file's first key, as record printed it (repeatable)" })
          .option("pubkey", { type: "string", describe: "as for verify: long-term Ed25519 public key (PEM) of record --sign-key" })
          .example("$0 report > ticket.md", "./capture.cbor.zst and its rotation set, in Markdown")
          .example("$0 report host1.cbor.zst --pin 3f2a...e9 --format html --out host1.html", "a page to attach, authenticity checked from the fingerprint record printed")
          .example("$0 report --since 2h --module 'nf_*'", "the last two hours, names matching nf_*")
          .epilogue(
            "Exits as dmrec verify would on the same files, once the report is written. Filters select the calls counted and listed; " +
              "the verdict always covers the whole files. Each list shows its first 50 entries and counts the rest.",
          ),
      async (a) => {
        const files = await capturesOf(a.files);
        if (files.includes("-")) throw new UsageError("-: report reads each capture twice (verify, then its calls); save standard input to a file first");
        const { reportCommand } = await import("./commands/report.ts");
        exitCode = await reportCommand({
          files,
          filter: a,
          format: a.format,
          out: a.out,
          force: a.force,
          pubkey: a.pubkey,
          pins: pinsOf(a.pin),
        });
      },
    )
    // bash, or zsh when $SHELL is zsh; make install writes both (Makefile).
    .completion("completion", "print a shell completion script (bash; zsh when $SHELL is zsh)")
    .example("$0 record", "record to ./capture.cbor.zst until Ctrl-C (as root)")
    .example("$0 query --module foo", "every call that named foo, from ./capture.cbor.zst and its rotation set")
    .example("$0 completion >> ~/.bashrc", "completion of commands and options in bash")
    .help()
    .alias("help", "h")
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .parseAsync();
  return exitCode;
}
