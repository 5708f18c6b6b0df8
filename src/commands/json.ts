// JSON for reports that hold 64-bit numbers and raw bytes: exact decimal
// strings for bigints, lowercase hex for byte strings.
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return String(v);
      if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
      return v;
    },
    2,
  );
}
