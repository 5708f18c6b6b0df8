// The findings about one file as verification goes: problems (at most
// MAX_PROBLEMS listed, the rest counted), notes, and the intact part, which
// grows only while nothing but a missing seal or signature has been found.
import type { CaptureHeader, SegmentInfo } from "../event.ts";
import { Totals } from "../capture/totals.ts";
import { type FileAuth, type FileVerification, type IntactPart, type VerifyProblem, worstOf } from "./kinds.ts";
import { plural } from "./text.ts";

/** At most this many problems are listed per file; one more line counts the rest. */
const MAX_PROBLEMS = 100;

/** Where a problem is: a segment and a byte offset, or a phrase saying so ("the seal at byte 80"). */
export interface Place {
  segment?: number;
  offset?: number;
  at?: string;
}

export class FileReport {
  readonly problems: VerifyProblem[] = [];
  private dropped = 0;
  readonly notes: string[] = [];
  header: CaptureHeader | null = null;
  sealed = false;
  signature: FileVerification["signature"] = "absent";
  signedBy: string | null = null;
  auth: FileAuth | null = null;
  finalHash: Uint8Array | null = null;
  segments = 0;
  /** the segments verified before the first problem, and where they end */
  private readonly intactTotals = new Totals();
  private intactEnd = 0;
  /** nothing wrong found so far: what is verified still counts as intact */
  private clean = true;

  constructor(readonly file: string) {}

  problem(kind: VerifyProblem["kind"], where: Place, text: string): VerifyProblem {
    const segment = where.segment ?? null;
    const offset = where.offset ?? null;
    const at =
      where.at ??
      (segment !== null && offset !== null ? `segment ${segment} at byte ${offset}` : offset !== null ? `byte ${offset}` : null);
    const p: VerifyProblem = { kind, file: this.file, segment, offset, message: `${this.file}: ${at ? `${at}: ` : ""}${text}` };
    if (kind !== "unsigned" && kind !== "unsealed") this.clean = false;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(p);
    else this.dropped++;
    return p;
  }

  /** A file that is not a capture: that is all there is to say about it. */
  notACapture(text: string): void {
    this.problems.length = 0;
    this.dropped = 0;
    this.header = null;
    this.problem("not_a_capture", {}, text);
  }

  addIntact(info: SegmentInfo, endOffset: number): void {
    if (!this.clean) return;
    this.intactTotals.addEntry(info);
    this.intactEnd = endOffset;
  }

  markIntactEnd(endOffset: number): void {
    if (this.clean) this.intactEnd = endOffset;
  }

  get intact(): IntactPart {
    return { ...this.intactTotals.counted, endOffset: this.intactEnd };
  }

  hasProblem(kind: VerifyProblem["kind"]): boolean {
    return this.problems.some((p) => p.kind === kind);
  }

  result(): FileVerification {
    const problems = [...this.problems];
    if (this.dropped > 0) {
      const last = problems[problems.length - 1]!;
      problems.push({ ...last, segment: null, offset: null, message: `${this.file}: and ${plural(this.dropped, "more problem")}` });
    }
    return {
      file: this.file,
      kind: worstOf(problems.map((p) => p.kind)),
      problems,
      notes: this.notes,
      header: this.header,
      sealed: this.sealed,
      signature: this.signature,
      signedBy: this.signedBy,
      auth: this.auth,
      finalHash: this.finalHash,
      segments: this.segments,
      intact: this.intact,
    };
  }
}
