// The output formats that are one record per line (all but the table), query's and the
// SIEM exports alike: each record's text on its own, and the little a format puts around
// them (render.ts's framing). Split so that worker threads can render records
// (parallel.ts) while the main thread frames them, with the text of one thread's renderers.
import type { CaptureHeader, SegmentItem } from "../event.ts";
import type { ExportFormat } from "../export/formats.ts";
import { ecsLine } from "../export/ecs.ts";
import { ocsfLine } from "../export/ocsf.ts";
import { timesketchLine } from "../export/timesketch.ts";
import { jsonLine, jsonLineInto, type TextSink } from "./json_line.ts";
import { CSV_FRAMING, csvRow, type Framing, JSON_FRAMING, NO_FRAMING } from "./render.ts";

export type LineFormat = "jsonl" | "json" | "csv" | ExportFormat;

/** One record's text in `format`, its line end included (json's records have none: the framing separates them). */
export function recordText(format: LineFormat): (item: SegmentItem, header: CaptureHeader) => string {
  switch (format) {
    case "jsonl":
      return (item) => `${jsonLine(item)}\n`;
    case "json":
      return (item) => jsonLine(item);
    case "csv":
      return (item) => csvRow(item);
    case "ecs":
      return ecsLine;
    case "ocsf":
      return ocsfLine;
    case "timesketch":
      return timesketchLine;
  }
}

export function framingOf(format: LineFormat): Framing {
  return format === "json" ? JSON_FRAMING : format === "csv" ? CSV_FRAMING : NO_FRAMING;
}

const NEWLINE = Uint8Array.of(0x0a);

/** recordText(format) as UTF-8 into a sink, in pieces where the format allows. */
export function recordInto(format: LineFormat): (item: SegmentItem, header: CaptureHeader, sink: TextSink) => void {
  switch (format) {
    case "jsonl":
      return (item, _, sink) => {
        jsonLineInto(item, sink);
        sink.bytes(NEWLINE);
      };
    case "json":
      return (item, _, sink) => jsonLineInto(item, sink);
    default: {
      const text = recordText(format);
      return (item, header, sink) => sink.text(text(item, header));
    }
  }
}
