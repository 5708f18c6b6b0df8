// native.ts's binding over bun:ffi. Its "ptr" takes both C pointers (numbers) and typed
// arrays, and returns numbers or null.
import { dlopen, JSCallback, toArrayBuffer, type FFITypeOrString, type Pointer } from "bun:ffi";
import { adapt, type ArgType, type CPointer, type Functions, type NativeBinding, type RawFunctions, type ReturnType, type SymbolSpec, type Symbols } from "./native.ts";

const TYPE: Record<ArgType | ReturnType, FFITypeOrString> = {
  i32: "i32",
  u32: "u32",
  i64: "i64",
  u64: "u64",
  bool: "bool",
  ptr: "ptr",
  buf: "ptr",
  cstring: "cstring",
  void: "void",
};

const spec = (s: SymbolSpec) => ({ args: s.args.map((a) => TYPE[a]), returns: TYPE[s.returns] });

export const binding: NativeBinding = {
  open<S extends Symbols>(library: string, symbols: S): Functions<S> {
    const raw = dlopen(library, Object.fromEntries(Object.entries(symbols).map(([name, s]) => [name, spec(s)]))).symbols as RawFunctions;
    return adapt(symbols, raw, String);
  },
  memory: (at, length) => toArrayBuffer(Number(at) as Pointer, 0, length),
  pointer: (address) => Number(address) as unknown as CPointer,
  callback(s, fn) {
    const cb = new JSCallback(fn as (...a: unknown[]) => number, spec(s));
    return { pointer: cb.ptr as unknown as CPointer, close: () => cb.close() };
  },
};
