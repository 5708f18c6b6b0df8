// The offline commands run without root, BPF or libbpf, and under Deno: what
// they import, transitively, must stay out of src/kernel/ and src/record/.
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const IMPORT = /(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g;

function reachable(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry) || !entry.endsWith(".ts")) return seen;
  seen.add(entry);
  for (const m of readFileSync(entry, "utf8").matchAll(IMPORT)) {
    const target = normalize(join(dirname(entry), m[1] ?? m[2]!));
    if (existsSync(target)) reachable(target, seen);
  }
  return seen;
}

for (const command of ["query", "stats", "info", "verify", "report"]) {
  test(`dmrec ${command} imports nothing from src/kernel/ or src/record/`, () => {
    const files = [...reachable(`src/commands/${command}.ts`)];
    expect(files.length).toBeGreaterThan(3);
    expect(files.filter((f) => f.startsWith("src/kernel/") || f.startsWith("src/record/"))).toEqual([]);
  });
}

test("the CLI loads the recorder only when record or doctor runs", () => {
  const src = readFileSync("src/cli.ts", "utf8");
  const staticImports = [...src.matchAll(/^import [^;]*from "(\.[^"]+)"/gm)].map((m) => m[1]!);
  expect(staticImports.filter((p) => p.includes("kernel/") || p.includes("record/") || p.includes("commands/record"))).toEqual([]);
});
