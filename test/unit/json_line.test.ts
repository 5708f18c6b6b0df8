// jsonLine writes the JSON view without building it: it must stay byte for
// byte JSON.stringify(toJsonRecord(item)), for every field and every value a
// capture can hold, hostile text included.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { AggregateRecord, DmrecEvent } from "../../src/event.ts";
import { concat } from "../../src/bytes.ts";
import { jsonLine, jsonLineInto } from "../../src/query/json_line.ts";
import { toJsonRecord } from "../../src/query/render.ts";
import { randomItems, readAll, ROOT, rng, sampleAggregates, sampleEvents } from "../support/captures.ts";
import { latin1, makeAggregate, makeClock, makeEvent } from "../support/events.ts";

type Shown = DmrecEvent | AggregateRecord;
const shown = (items: { type: string }[]) => items.filter((i): i is Shown => i.type === "event" || i.type === "aggregate");
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
// jsonLineInto's pieces joined, the kept parts' bytes included.
function intoText(item: Shown): string {
  const pieces: Uint8Array[] = [];
  jsonLineInto(item, { text: (s) => pieces.push(utf8.encode(s)), bytes: (b) => pieces.push(b.slice()) });
  return fromUtf8.decode(concat(pieces));
}
// Each way in a pass of its own: they share the parts kept from one record to the next.
const expectSame = (items: Shown[]) => {
  for (const item of items) expect(jsonLine(item)).toBe(JSON.stringify(toJsonRecord(item)));
  for (const item of items) expect(intoText(item)).toBe(JSON.stringify(toJsonRecord(item)));
};

describe("jsonLine is JSON.stringify(toJsonRecord(item))", () => {
  test("sample events and aggregates of every scope", () => {
    expectSame([...sampleEvents(50), ...sampleAggregates()]);
  });

  test.each(readdirSync(join(ROOT, "fixtures")).filter((f) => f.endsWith(".cbor.zst")))("every record of fixtures/%s", (f) => {
    const items = shown(readAll(join(ROOT, "fixtures", f)).items);
    expectSame(items);
  });

  test("random items: every field over its whole range, text in any script", () => {
    const items = shown(randomItems(rng(10), 3000));
    expect(items.length).toBeGreaterThan(1400);
    expectSame(items);
  });

  test("loss and clock records, random ones and steps either way", () => {
    const items = randomItems(rng(11), 2000).filter((i) => i.type === "loss" || i.type === "clock");
    items.push(makeClock(), makeClock({ boot_to_wall_ns: 0n }), makeClock({ old_boot_to_wall_ns: -(2n ** 63n), boot_to_wall_ns: 2n ** 63n - 1n }));
    expect(items.filter((i) => i.type === "clock").length).toBeGreaterThan(400);
    for (const it of items) expect(jsonLine(it)).toBe(JSON.stringify(toJsonRecord(it)));
  });

  test("hostile text: quotes, backslashes, controls, lone surrogates, in every text field", () => {
    const nasty = ['"', "\\", '\\"', "\u0000", "\u001f", "\u2028", "\ud800", "a\udfffb", "</script>", "=HYPERLINK(\"x\")", "😀"];
    const items: Shown[] = [];
    for (const s of nasty) {
      const bytes = latin1(s.replace(/[^\u0000-\u00ff]/g, "?"));
      items.push(
        makeEvent({ comm: s, parent_comm: bytes, exe: s, container_id: s, errno: s, name: bytes, name_entry: bytes, name_exit: Uint8Array.of(...bytes, 0x78), name_kernel: null }),
        makeEvent({ flags_names: [s, "O_TRUNC"], comm: s }),
        makeAggregate({ comm: s, exe: s, container_id: s, name: bytes, flags_names: [s] }),
      );
    }
    expectSame(items);
  });

  test("times in and out of the second before, on either side of 1970, at the ends of 64 bits", () => {
    const S = 1_000_000_000n;
    const T = 1_764_000_000n * S;
    const times = [T, T + 1n, T + S - 1n, T + S, T + S - 1n, T - 1n, T, -1n, 0n, 1n, S - 1n, S, S + 1n, 0n, -S, -S - 1n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 63n - 2n, T];
    const items: Shown[] = [];
    for (const ts of times) {
      items.push(
        makeEvent({ ts_ns: ts, boot_ns: ts < 0n ? 0n : ts, duration_ns: 2n ** 64n - 1n, name_ptr: 2n ** 53n, cgroup_id: 2n ** 53n - 1n }),
        makeAggregate({ ts_ns: ts, last_ts_ns: ts + 5n > 2n ** 63n - 1n ? ts : ts + 5n, boot_ns: 2n ** 64n - 1n }),
      );
    }
    expectSame(items);
  });

  test("an event that differs from the one before in one field only shows that field's value, for every field", () => {
    // Every field holds a value here (the renderer does not judge their combination), so each can change and be nulled.
    const base = makeEvent({ exe: "/usr/bin/kmod", container_id: "c0", name_kernel: latin1("dummy"), name_entry_err: -14, name_exit_err: -14, errno: "ENOENT", argv_err: -14 });
    const other = (v: unknown): unknown => {
      if (typeof v === "number") return v + 1;
      if (typeof v === "bigint") return v + 1n;
      if (typeof v === "boolean") return !v;
      if (typeof v === "string") return `${v}x`;
      if (v instanceof Uint8Array) return Uint8Array.of(...v, 0x78);
      if (Array.isArray(v)) return v.length ? v.slice(1) : ["entry!=exit"];
      throw new Error(`no other value for ${String(v)}`);
    };
    const NULLABLE = new Set<string>([
      "exe", "container_id", "name_entry", "name_entry_err", "name_exit", "name_exit_err", "name_kernel", "name", "errno", "freed", "toctou",
      "exe_inode", "exe_dev", "exe_deleted", "exe_truncated", "exe_unreachable", "parent_exe", "argv", "argv_err", "argv_truncated", "tty",
    ]);
    const keys = Object.keys(base).filter((k) => k !== "type") as (keyof DmrecEvent)[];
    expect(keys.length).toBe(47);
    const items: Shown[] = [];
    for (const k of keys) {
      const changed = { ...base, [k]: other(base[k]) } as DmrecEvent;
      items.push(base, changed, changed, base);
      // Also from a value to null and back, where a field may be null.
      if (NULLABLE.has(k)) items.push({ ...base, [k]: null } as DmrecEvent, base);
    }
    expectSame(items);
  });

  test("a repeat of the previous record's name or command is not taken for another", () => {
    const a = makeEvent({ name: latin1("aaa"), comm: "x" });
    const b = makeEvent({ name: latin1("aab"), comm: "x\u0000" });
    expectSame([a, a, b, a, b, b]);
  });
});
