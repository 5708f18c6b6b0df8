// `dmrec verify`: integrity of captures and rotation sets, one exit code per
// kind of failure (README.md, "Exit codes"; the table is src/errors.ts').
import { checkInputs } from "../capture/scan.ts";
import { loadPublicKey } from "../keys.ts";
import { VERIFY_EXIT } from "../verify/kinds.ts";
import { verifyCaptures } from "../verify/sets.ts";
import { reportLines } from "../verify/text.ts";
import { toJson } from "./json.ts";

export async function verifyCommand(o: { files: string[]; pubkey?: string; pins: string[]; json: boolean }): Promise<number> {
  checkInputs(o.files);
  const publicKey = o.pubkey === undefined ? undefined : loadPublicKey(o.pubkey);
  const report = verifyCaptures(o.files, { publicKey, pins: o.pins });
  process.stdout.write(o.json ? `${toJson(report)}\n` : reportLines(report).map((l) => `${l}\n`).join(""));
  return VERIFY_EXIT[report.kind];
}
