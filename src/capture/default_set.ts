// What the offline commands read when no capture is named: record's default
// ./capture.cbor.zst and the rest of its rotation set. Files in a capture
// directory can be planted by anyone who may write there, so a file is taken
// only if it is a regular file (not a symlink) owned by root or by the user
// running dmrec, and belongs to the same set as the newest recording.
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DmrecError, ExitCode } from "../errors.ts";
import type { CaptureHeader } from "../event.ts";
import { readCapture } from "./reader.ts";
import { DEFAULT_CAPTURE } from "./sets.ts";

const ROTATED = /^capture\.(\d{6,})\.cbor\.zst$/;

export interface DefaultSet {
  /** the files to read, in set order; never empty */
  files: string[];
  /** files with a set member's name that are not read, and why */
  passedOver: { file: string; why: string }[];
}

/** Neither ./capture.cbor.zst nor any file of its rotation set exists. */
export class NoDefaultCaptureError extends DmrecError {
  constructor(dir: string, passedOver: DefaultSet["passedOver"] = []) {
    const shown = dir === "." ? `./${DEFAULT_CAPTURE}` : join(dir, DEFAULT_CAPTURE);
    const why = passedOver.length
      ? `no capture named, and no file of ${shown}'s set can be trusted: ${passedOver.map((p) => `${p.file} (${p.why})`).join(", ")}`
      : `no capture named and ${shown} does not exist`;
    super(`${why} (name a capture, or - for standard input)`, ExitCode.badInput);
  }
}

/** The set id in the file's header, or null when the header cannot be read (the command then reports it). */
function setIdOf(file: string): string | null {
  const reader = readCapture(file);
  try {
    return (reader.next().value as CaptureHeader).set.id;
  } catch {
    return null;
  } finally {
    reader.return(undefined);
  }
}

/**
 * The default captures in `dir`: capture.cbor.zst and capture.NNNNNN.cbor.zst
 * of the same set as capture.cbor.zst, or, when --max-files has deleted it,
 * as the highest-numbered file. NoDefaultCaptureError when none exists or
 * none can be trusted.
 */
export function defaultCaptureSet(dir: string, uid = process.getuid?.() ?? 0): DefaultSet {
  const numbered: { file: string; index: number }[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new NoDefaultCaptureError(dir);
  }
  for (const name of names) {
    if (name === DEFAULT_CAPTURE) numbered.push({ file: join(dir, name), index: 1 });
    const m = ROTATED.exec(name);
    // File 1 of a set is capture.cbor.zst itself: capture.000001.cbor.zst is no member's name.
    if (m && Number(m[1]) >= 2) numbered.push({ file: join(dir, name), index: Number(m[1]) });
  }
  if (numbered.length === 0) throw new NoDefaultCaptureError(dir);
  numbered.sort((a, b) => a.index - b.index);

  const passedOver: DefaultSet["passedOver"] = [];
  const trusted = numbered.filter(({ file }) => {
    const st = lstatSync(file, { throwIfNoEntry: false });
    const why = !st
      ? "it went away"
      : st.isSymbolicLink()
        ? "a symlink"
        : !st.isFile()
          ? "not a regular file"
          : st.uid !== 0 && st.uid !== uid
            ? `owned by uid ${st.uid}, neither root nor you`
            : null;
    if (why) passedOver.push({ file, why });
    return why === null;
  });
  if (trusted.length === 0) throw new NoDefaultCaptureError(dir, passedOver);

  const reference = trusted[0]!.index === 1 ? trusted[0]! : trusted[trusted.length - 1]!;
  const setId = setIdOf(reference.file);
  const files = trusted.filter(({ file }) => {
    if (file === reference.file || setId === null) return true;
    const id = setIdOf(file);
    // A file whose header cannot be read is kept, so that its damage is reported.
    if (id === null || id === setId) return true;
    passedOver.push({ file, why: `of another recording (set ${id}, not ${setId})` });
    return false;
  });
  return { files: files.map((f) => f.file), passedOver: passedOver.sort((a, b) => (a.file < b.file ? -1 : 1)) };
}
