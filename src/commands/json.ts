// JSON for reports that hold 64-bit numbers and raw bytes: exact decimal
// strings for bigints, lowercase hex for byte strings.
import { toHex } from "../bytes.ts";

export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return String(v);
      if (v instanceof Uint8Array) return toHex(v);
      return v;
    },
    2,
  );
}
