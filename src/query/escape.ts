// The one escaping rule for bytes shown to people (JSON, CSV, tables, stats): names in a
// capture are attacker-chosen bytes, and --module/--comm patterns accept the same escapes
// (filter.ts), so what the output shows can be pasted back as a filter.

/**
 * Bytes as unambiguous ASCII text: printable ASCII kept, backslash as `\\`, every other
 * byte as `\xNN`.
 */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (isPlain(b)) out += String.fromCharCode(b);
    else if (b === 0x5c) out += "\\\\";
    else out += `\\x${HEX[b]}`;
  }
  return out;
}

const isPlain = (b: number) => b >= 0x20 && b < 0x7f && b !== 0x5c;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

const utf8 = new TextEncoder();

/** comm comes as text when it was valid UTF-8; it is shown by the same rule as bytes. */
export function asBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? utf8.encode(v) : v;
}
