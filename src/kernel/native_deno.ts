// native.ts's binding over Deno.dlopen, which tells "pointer" (C's) from "buffer" (ours)
// and returns pointer objects or null. Run with --allow-ffi.
import { adapt, type ArgType, type CPointer, type Functions, type NativeBinding, type RawFunctions, type ReturnType, type SymbolSpec, type Symbols } from "./native.ts";

/** The part of Deno's FFI used here (the project is type-checked against Bun's types). */
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: RawFunctions };
  UnsafePointer: { create(address: bigint): CPointer | null };
  UnsafePointerView: { getCString(p: CPointer): string; getArrayBuffer(p: CPointer, length: number): ArrayBuffer };
  UnsafeCallback: new (definition: { parameters: string[]; result: string }, fn: (...a: never[]) => number) => { pointer: CPointer; close(): void };
}
const deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

const TYPE: Record<ArgType | ReturnType, string> = {
  i32: "i32",
  u32: "u32",
  i64: "i64",
  u64: "u64",
  bool: "bool",
  ptr: "pointer",
  buf: "buffer",
  cstring: "pointer",
  void: "void",
};

const spec = (s: SymbolSpec) => ({ parameters: s.args.map((a) => TYPE[a]), result: TYPE[s.returns] });

const pointerTo = (address: bigint): CPointer => {
  const p = deno.UnsafePointer.create(address);
  if (p === null) throw new Error("a null pointer where C memory was expected");
  return p;
};

export const binding: NativeBinding = {
  open<S extends Symbols>(library: string, symbols: S): Functions<S> {
    const raw = deno.dlopen(library, Object.fromEntries(Object.entries(symbols).map(([name, s]) => [name, spec(s)]))).symbols;
    return adapt(symbols, raw, (p) => (p === null ? "" : deno.UnsafePointerView.getCString(p as CPointer)));
  },
  memory: (at, length) => deno.UnsafePointerView.getArrayBuffer(typeof at === "bigint" ? pointerTo(at) : at, length),
  pointer: pointerTo,
  callback(s, fn) {
    const cb = new deno.UnsafeCallback(spec(s), fn);
    return { pointer: cb.pointer, close: () => cb.close() };
  },
};
