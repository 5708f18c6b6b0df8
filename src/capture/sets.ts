// The names of a rotation set's files (docs/FORMAT.md, "Rotation sets"):
// part of the format's conventions, so that a reader given one file can tell
// what the others are called, and the recorder only decides when to rotate.

/** What record writes and the offline commands read when no file is named. */
export const DEFAULT_CAPTURE = "capture.cbor.zst";

/** File N of a rotation set: the first is `out` itself, then capture.000002.cbor.zst, ... */
export function rotatedPath(out: string, index: number): string {
  if (index === 1) return out;
  const stem = out.endsWith(".cbor.zst") ? out.slice(0, -".cbor.zst".length) : out;
  return `${stem}.${String(index).padStart(6, "0")}.cbor.zst`;
}
