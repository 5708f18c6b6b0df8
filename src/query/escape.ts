// The one escaping rule for bytes shown to people (JSON, CSV, tables, stats): names in a
// capture are attacker-chosen bytes, and --module/--comm patterns accept the same escapes
// (filter.ts), so what the output shows can be pasted back as a filter.

/**
 * Bytes as unambiguous ASCII text: printable ASCII kept, backslash as `\\`, every other
 * byte as `\xNN`.
 */
export function escapeBytes(bytes: Uint8Array): string {
  // Appending builds a rope of one node per byte (tens of bytes each): fine for a
  // module name, not for the megabyte one a crafted capture may hold.
  if (bytes.length <= SHORT) {
    let out = "";
    for (const b of bytes) out += ESCAPED[b]!;
    return out;
  }
  const parts = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = ESCAPED[bytes[i]!]!;
  return parts.join("");
}

const SHORT = 256;
const isPlain = (b: number) => b >= 0x20 && b < 0x7f && b !== 0x5c;
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const ESCAPED = Array.from({ length: 256 }, (_, b) => (isPlain(b) ? String.fromCharCode(b) : b === 0x5c ? "\\\\" : `\\x${HEX[b]}`));

const utf8 = new TextEncoder();

/** comm comes as text when it was valid UTF-8; it is shown by the same rule as bytes. */
export function asBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? utf8.encode(v) : v;
}
