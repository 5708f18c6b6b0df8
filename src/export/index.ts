// The SIEM exports, `dmrec export --format ecs|ocsf|timesketch`: one NDJSON line per
// event, aggregate or loss record, each with the header of the capture it came from,
// since host fields come from the header and one export may merge several hosts' captures.
// One file per target schema; query's formats (jsonl, json, csv) stay in src/query/.
import type { CaptureHeader, SegmentItem } from "../event.ts";
import type { Sink } from "../query/table.ts";
import { ecsLine } from "./ecs.ts";
import type { ExportFormat } from "./formats.ts";
import { ocsfLine } from "./ocsf.ts";
import { timesketchLine } from "./timesketch.ts";

export { EXPORT_FORMATS, type ExportFormat, isExportFormat } from "./formats.ts";

export interface ExportRenderer {
  /** Writes one line for the record; `header` is that of the capture it was read from. */
  item(item: SegmentItem, header: CaptureHeader): void;
  /** NDJSON needs nothing after the last line; this is here so export drives every format alike. */
  end(): void;
}

const LINES: Record<ExportFormat, (item: SegmentItem, header: CaptureHeader) => string> = {
  ecs: ecsLine,
  ocsf: ocsfLine,
  timesketch: timesketchLine,
};

/**
 * A streaming renderer for one SIEM format: memory does not grow with the records.
 *
 * @example
 * const r = createExportRenderer("ocsf", (chunk) => out.write(chunk));
 * for (const { item, header } of records) r.item(item, header);
 * r.end();
 */
export function createExportRenderer(format: ExportFormat, sink: Sink): ExportRenderer {
  const line = LINES[format];
  return { item: (item, header) => sink(line(item, header)), end: () => {} };
}
