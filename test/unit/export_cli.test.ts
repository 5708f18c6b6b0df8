// `dmrec export` on the command line, in every format: on every fixture each line is valid
// per the vendored schemas (test/support/export_schemas.ts), and nothing is left out: the
// records of each kind, and the calls they stand for, are exactly those `dmrec info`
// counts. Captures of two hosts merged: each line names its own capture's host, in time
// order.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CaptureHeader, SegmentItem } from "../../src/event.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../src/export/index.ts";
import { CSV_KEYS } from "../../src/query/render.ts";
import { FIXED_NOW, header, pinnedKeys, ROOT, tempDir, writeCapture } from "../support/captures.ts";
import { latin1, makeAggregate, makeEvent } from "../support/events.ts";
import { at, type Json, PROBLEMS } from "../support/export_schemas.ts";

const FIXTURES = readdirSync(join(ROOT, "fixtures"))
  .filter((f) => f.endsWith(".cbor.zst"))
  .sort();

const tmp = tempDir("dmrec-export-cli-");
afterAll(() => tmp.cleanup());

function dmrec(...args: string[]) {
  const r = Bun.spawnSync([process.execPath, "src/main.ts", ...args], { cwd: ROOT });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** `dmrec export FILES --format F` that must succeed, as lines. */
function exported(files: string[], format: string, ...args: string[]): string[] {
  const r = dmrec("export", ...files, "--format", format, ...args);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  return r.stdout === "" ? [] : r.stdout.split(/(?<=\n)/);
}

/** Where each SIEM format keeps dmrec's own record, and the host. */
const DMREC: Record<ExportFormat, (doc: Json) => Json> = {
  ecs: (d) => d.dmrec as Json,
  ocsf: (d) => at(d, "unmapped.dmrec") as Json,
  timesketch: (d) => d,
};
const HOSTNAME: Record<ExportFormat, string> = { ecs: "host.hostname", ocsf: "device.hostname", timesketch: "hostname" };

/** dmrec's records of an export in any format but csv: type, count and ts_ns of each. */
function records(format: string, lines: string[]): { type: string; count: number; ts_ns: bigint }[] {
  const recs: Json[] =
    format === "json" ? (JSON.parse(lines.join("")) as Json[]) : lines.map((l) => JSON.parse(l) as Json).map((d) => (format === "jsonl" ? d : DMREC[format as ExportFormat](d)));
  return recs.map((r) => ({ type: r.type as string, count: r.type === "event" ? 1 : (r.count as number), ts_ns: BigInt(r.ts_ns as string) }));
}

/** The same from CSV (no field of a fixture holds a comma, a quote or a line break). */
function csvRecords(lines: string[]): { type: string; count: number; ts_ns: bigint }[] {
  const [head, ...rows] = lines.map((l) => l.replace(/\r\n$/, "").split(","));
  expect(head).toEqual([...CSV_KEYS]);
  const col = (k: string) => head!.indexOf(k);
  for (const row of rows) expect(row).toHaveLength(CSV_KEYS.length);
  return rows.map((r) => ({ type: r[col("type")]!, count: Number(r[col("count")]), ts_ns: BigInt(r[col("ts_ns")]!) }));
}

interface Counts {
  events: number;
  aggregates: number;
  losses: number;
  /** events + aggregated calls + lost calls */
  calls: number;
}

function tally(recs: { type: string; count: number }[]): Counts {
  const c: Counts = { events: 0, aggregates: 0, losses: 0, calls: 0 };
  for (const r of recs) {
    if (r.type === "event") c.events++;
    else if (r.type === "aggregate") c.aggregates++;
    else if (r.type === "loss") c.losses++;
    else throw new Error(`unknown record type ${r.type}`);
    c.calls += r.count;
  }
  return c;
}

/** What `dmrec info --json` counts in a capture (from its seal, or its index when it has none). */
function infoCounts(file: string): Counts {
  const r = dmrec("info", file, "--json");
  expect(r.code).toBe(0);
  const [info] = JSON.parse(r.stdout) as { events: number; aggregates: number; losses: number; lostCalls: number; aggregatedCalls: number }[];
  return { events: info!.events, aggregates: info!.aggregates, losses: info!.losses, calls: info!.events + info!.aggregatedCalls + info!.lostCalls };
}

const inTimeOrder = (recs: { ts_ns: bigint }[]) => recs.every((r, i) => i === 0 || recs[i - 1]!.ts_ns <= r.ts_ns);

describe.each(FIXTURES)("fixtures/%s", (name) => {
  const file = join("fixtures", name);

  test(
    "every SIEM format: each line valid per the vendored schema; exactly the records and calls info counts, in time order",
    () => {
      const expected = infoCounts(file);
      for (const format of EXPORT_FORMATS) {
        const lines = exported([file], format);
        for (const [i, l] of lines.entries()) expect({ format, i, problems: PROBLEMS[format](l) }).toEqual({ format, i, problems: [] });
        const recs = records(format, lines);
        expect({ format, ...tally(recs) }).toEqual({ format, ...expected });
        expect(inTimeOrder(recs)).toBe(true);
      }
    },
    30_000,
  );

  test(
    "jsonl, json and csv leave nothing out either",
    () => {
      const expected = infoCounts(file);
      for (const format of ["jsonl", "json"]) expect({ format, ...tally(records(format, exported([file], format))) }).toEqual({ format, ...expected });
      expect({ format: "csv", ...tally(csvRecords(exported([file], "csv"))) }).toEqual({ format: "csv", ...expected });
    },
    30_000,
  );
});

test("the fixtures hold every kind of record between them", () => {
  const all = FIXTURES.map((f) => infoCounts(join("fixtures", f)));
  expect(all.some((c) => c.events > 0) && all.some((c) => c.aggregates > 0) && all.some((c) => c.losses > 0)).toBe(true);
});

describe("two hosts' captures merged", () => {
  const T0 = 1764118674000000000n;
  const ms = (n: number) => T0 + BigInt(n) * 1_000_000n;
  const host = (hostname: string, n: number): CaptureHeader => ({
    ...header,
    host: { hostname, kernel: `6.${n}.0`, boot_id: `0b7c1d7e-1f1e-4c4c-9d9d-00000000000${n}`, arch: n === 1 ? "x86_64" : "aarch64" },
    set: { ...header.set, id: `5f0c3e1a-8d2b-4c47-9a61-0d1e2f3a4b5${n}` },
    start_ns: T0,
  });
  // Who wrote each record, by its pid or count: alpha's are 1xxx, beta's 2xxx.
  const items = (base: number, offset: number): SegmentItem[] => [
    makeEvent({ ts_ns: ms(offset), pid: base + 1 }),
    makeEvent({ ts_ns: ms(offset + 20), pid: base + 2, ret: -2, name: latin1("nosuch") }),
    { type: "loss", ts_ns: ms(offset + 30), count: base + 3, reason: "ringbuf_full" },
    makeAggregate({ ts_ns: ms(offset + 10), last_ts_ns: ms(offset + 35), pid: base + 4, count: base + 4 }),
    makeEvent({ ts_ns: ms(offset + 40), pid: base + 5 }),
  ];
  const alpha = tmp.path("alpha.cbor.zst");
  const beta = tmp.path("beta.cbor.zst");
  writeCapture(alpha, items(1000, 0), { header: host("alpha", 1), segmentEvents: 2, newKey: pinnedKeys("alpha"), nowNs: FIXED_NOW });
  writeCapture(beta, items(2000, 5), { header: host("beta", 2), segmentEvents: 2, newKey: pinnedKeys("beta"), nowNs: FIXED_NOW });

  const writer = (rec: Json) => ((rec.type === "loss" || rec.type === "aggregate" ? (rec.count as number) : (rec.pid as number)) < 2000 ? "alpha" : "beta");

  test.each([...EXPORT_FORMATS])("%s: every line carries the host of its own capture, in time order across both", (format) => {
    const lines = exported([beta, alpha], format);
    expect(lines).toHaveLength(10);
    for (const l of lines) expect(PROBLEMS[format](l)).toEqual([]);
    const docs = lines.map((l) => JSON.parse(l) as Json);
    const hosts = docs.map((d) => [writer(DMREC[format](d)), at(d, HOSTNAME[format])]);
    for (const [wrote, named] of hosts) expect(named).toBe(wrote);
    expect(new Set(hosts.map(([h]) => h))).toEqual(new Set(["alpha", "beta"]));
    // interleaved: a0 b5 a10 b15 a20 b25 a30 b35 a40 b45
    expect(hosts.map(([h]) => h)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? "alpha" : "beta")));
    expect(inTimeOrder(records(format, lines))).toBe(true);
    const capture = { ecs: "dmrec.capture.set_id", ocsf: "unmapped.dmrec.capture.set_id", timesketch: "capture_set_id" }[format];
    for (const d of docs) expect(at(d, capture)).toBe(`5f0c3e1a-8d2b-4c47-9a61-0d1e2f3a4b5${writer(DMREC[format](d)) === "alpha" ? 1 : 2}`);
  });

  test("--out writes the same lines to a new file", () => {
    const out = join(tmp.dir, "merged.ocsf.jsonl");
    const r = dmrec("export", alpha, beta, "--format", "ocsf", "--out", out);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(out, "utf8")).toBe(exported([alpha, beta], "ocsf").join(""));
  });
});

describe("filters in the SIEM formats", () => {
  const flood = join("fixtures", "flood.cbor.zst");
  const kinds = (format: ExportFormat, ...args: string[]) => records(format, exported([flood], format, ...args)).map((r) => r.type);

  test.each([...EXPORT_FORMATS])("%s: losses stay whatever --module or --pid; --events-only leaves them and aggregates out; --since applies", (format) => {
    expect(kinds(format, "--module", "dummy")).toEqual(["event", "loss", "event"]);
    expect(kinds(format, "--pid", "1")).toEqual(["loss"]);
    expect(kinds(format, "--events-only")).toEqual(["event", "event", "event", "event", "event"]);
    expect(kinds(format, "--since", "2025-11-26T00:57:54.063Z")).toEqual(["event"]);
    expect(kinds(format, "--limit", "1", "--pid", "1")).toEqual(["loss"]);
  });
});

test("export --help names every format and shows how to use the SIEM ones", () => {
  const help = dmrec("export", "--help").stdout;
  for (const f of ["jsonl", "json", "csv", ...EXPORT_FORMATS]) expect(help).toContain(`"${f}"`);
  expect(help).toContain("dmrec export --format ecs > unloads.ndjson");
  expect(help).toMatch(/--format ocsf\s+--out/);
  expect(help).toContain("Loss records");
});
