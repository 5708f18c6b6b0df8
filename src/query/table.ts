// Aligned text tables for terminals (query's table format, stats): one way to size
// columns and one escaping rule for attacker-chosen names, so no table can be faked.
import { escapeBytes } from "./escape.ts";

/** Receives output text in order; buffering and write errors are the caller's. */
export type Sink = (chunk: string) => void;

export interface TableColumn {
  title: string;
  right: boolean;
}

export interface TableWriter {
  row(cells: string[]): void;
  /** Writes what is still held (the header at least, also with no rows at all). */
  end(): void;
}

/**
 * Names are escaped as in JSON, plus space and `<`: every name cell is one
 * whitespace-free token, so a hostile name cannot fake columns or pass for a marker
 * such as `<unreadable>` or `<any>`, and a cell can still be pasted into --module.
 */
export const tableText = (bytes: Uint8Array) => tableEscaped(escapeBytes(bytes));

/** The same, for text that escapeBytes made (as in JSON output). */
export const tableEscaped = (text: string) => text.replaceAll(" ", "\\x20").replaceAll("<", "\\x3c");

/** At most this much text is held to size the columns, whatever the rows: a crafted capture's names can be megabytes each. */
export const TABLE_SIZING_CHARS = 4 * 1024 * 1024;

/**
 * Keeps the first `sizingRows` rows in memory (at most TABLE_SIZING_CHARS of their text)
 * to size the columns, then keeps those widths: a later, wider cell pushes the rest of
 * its own line right rather than being cut, since hiding part of a name is worse than a
 * ragged line. The last column is not padded.
 */
export function tableWriter(columns: readonly TableColumn[], sink: Sink, sizingRows: number): TableWriter {
  let pending: string[][] | null = [];
  let held = 0;
  const widths = columns.map((c) => c.title.length);
  const line = (cells: string[]) => {
    const last = cells.length - 1;
    const padded = cells.map((text, i) => {
      if (i === last) return text;
      return columns[i]!.right ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
    });
    sink(`${padded.join("  ")}\n`);
  };
  const flush = () => {
    if (pending === null) return;
    for (const row of pending) row.forEach((text, i) => (widths[i] = Math.max(widths[i]!, text.length)));
    line(columns.map((c) => c.title));
    for (const row of pending) line(row);
    pending = null;
  };
  return {
    row(cells) {
      if (pending === null) return line(cells);
      pending.push(cells);
      for (const c of cells) held += c.length;
      if (pending.length >= sizingRows || held >= TABLE_SIZING_CHARS) flush();
    },
    end: flush,
  };
}
