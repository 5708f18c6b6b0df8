// `dmrec report`: verify's verdict and the calls that matter, as Markdown for a ticket
// or as one self-contained web page (src/report/). It exits as `dmrec verify` would on
// the same files, once the whole report is written: a forged capture still gets its
// report, and a script still sees the verdict.
import { checkInputs } from "../capture/scan.ts";
import { loadPublicKey } from "../keys.ts";
import { parseFilter, type FilterOptions } from "../query/filter.ts";
import { reportDocument } from "../report/document.ts";
import { reportFacts } from "../report/facts.ts";
import { reportHtml } from "../report/html.ts";
import { reportMarkdown } from "../report/markdown.ts";
import { VERIFY_EXIT } from "../verify/kinds.ts";
import { writeOutput } from "./output.ts";

export const REPORT_FORMATS = ["md", "html"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportCommandOptions {
  files: string[];
  filter: FilterOptions;
  format: ReportFormat;
  out?: string;
  force: boolean;
  pubkey?: string;
  pins: string[];
}

export async function reportCommand(o: ReportCommandOptions): Promise<number> {
  checkInputs(o.files);
  const filter = parseFilter(o.filter, new Date());
  const publicKey = o.pubkey === undefined ? undefined : loadPublicKey(o.pubkey);
  const facts = reportFacts(o.files, filter, { publicKey, pins: o.pins });
  // A parsed filter's fields are null or false where nothing was asked: the report then says it covers only what matched.
  const filtered = Object.values(filter).some((v) => v !== null && v !== false);
  const doc = reportDocument(facts, { filtered });
  const text = o.format === "html" ? reportHtml(doc, facts) : reportMarkdown(doc);
  // Created only once the captures are read: a capture that cannot be read leaves no file.
  writeOutput(o.out, o.force, (out) => out.write(text));
  return VERIFY_EXIT[facts.verdict];
}
