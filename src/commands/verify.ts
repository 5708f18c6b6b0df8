// `dmrec verify`: integrity of captures and rotation sets, one exit code per
// kind of failure (README.md, "Exit codes").
import { ExitCode } from "../errors.ts";
import { loadPublicKey } from "../keys.ts";
import { reportLines, verifyCaptures, type VerifyKind } from "../verify.ts";
import { toJson } from "./json.ts";

/** The exit code of each verdict, the worst one of a run deciding. */
export const VERIFY_EXIT: Record<VerifyKind, number> = {
  ok: ExitCode.ok,
  unreadable: ExitCode.badInput,
  not_a_capture: ExitCode.badInput,
  modified: 10,
  reordered: 11,
  truncated: 12,
  unsealed: 13,
  bad_signature: 14,
  unsigned: 15,
  missing_file: 16,
};

export async function verifyCommand(o: { files: string[]; pubkey?: string; json: boolean }): Promise<number> {
  const publicKey = o.pubkey === undefined ? undefined : loadPublicKey(o.pubkey);
  const report = verifyCaptures(o.files, { publicKey });
  process.stdout.write(o.json ? `${toJson(report)}\n` : reportLines(report).map((l) => `${l}\n`).join(""));
  return VERIFY_EXIT[report.kind];
}
