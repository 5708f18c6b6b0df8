// The offline commands give byte for byte the same answers under Deno as the
// compiled (Bun) executable, on every fixture and in every format, exit
// codes included: an analyst may run either. Needs `make build`.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { DMREC } from "../support/recorder.ts";

const FIXTURES = readdirSync("fixtures")
  .filter((f) => f.endsWith(".cbor.zst"))
  .sort()
  .map((f) => join("fixtures", f));
const SET = ["fixtures/rotated.cbor.zst", "fixtures/rotated.000002.cbor.zst", "fixtures/rotated.000003.cbor.zst"];
const DENO = ["node_modules/.bin/deno", "run", "--no-lock", "--no-check", "--allow-read", "--allow-write", "--allow-env", "src/main.ts"];

const COMMANDS: string[][] = [
  ...["table", "json", "jsonl", "csv"].map((f) => ["query", "--format", f]),
  ...["jsonl", "json", "csv", "ecs", "ocsf", "timesketch"].map((f) => ["export", "--format", f]),
  ["query", "--count"],
  ["stats"],
  ["stats", "--json"],
  ["stats", "--by", "module"],
  ["stats", "--by", "process,errno", "--json"],
  ["stats", "--by", "hour,uid"],
  ["stats", "--histogram"],
  ["stats", "--histogram", "--json"],
  ["stats", "--histogram", "--bucket", "2ms"],
  ["info"],
  ["info", "--json"],
  ["verify"],
  ["verify", "--json"],
  ["report"],
  ["report", "--format", "html"],
];

function run(cmd: string[]) {
  const r = Bun.spawnSync(cmd, { env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe.each([...FIXTURES.map((f) => [f, [f]] as const), ["the rotated set", SET] as const])("%s", (_name, files) => {
  test.each(COMMANDS.map((c) => [c.join(" "), c]))("dmrec %s: Deno and Bun agree", (_label, command) => {
    const args = [command[0]!, ...files, ...command.slice(1)];
    const bun = run([DMREC, ...args]);
    const deno = run([...DENO, ...args]);
    expect(deno.stderr).toBe(bun.stderr);
    expect(deno.stdout).toBe(bun.stdout);
    expect(deno.code).toBe(bun.code);
    // Agreeing on an error would prove little: only verify's verdicts (report exits with them) may be non-zero here.
    if (command[0] !== "verify" && command[0] !== "report") expect(bun.code).toBe(0);
  });
});

test("deno task dmrec runs the CLI from a checkout", () => {
  const r = run(["node_modules/.bin/deno", "task", "-q", "dmrec", "query", "fixtures/small.cbor.zst", "--count"]);
  expect(r.stdout).toBe("2\n");
  expect(r.code).toBe(0);
});
