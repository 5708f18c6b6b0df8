// The C calling convention as both runtimes offer it (bun:ffi, Deno.dlopen): symbol
// tables in one notation, the functions they give, C memory as an ArrayBuffer, and
// callbacks from C. The two bindings (native_bun.ts, native_deno.ts) are the only
// code that knows either runtime's FFI; ffi.ts loads the one it runs on.

/**
 * An argument: a C integer, a pointer C gave us (`ptr`), or memory of ours passed by
 * address (`buf`, a typed array or null). bun:ffi takes both as "ptr"; Deno tells them apart.
 */
export type ArgType = "i32" | "u32" | "i64" | "u64" | "bool" | "ptr" | "buf";
export type ReturnType = "i32" | "u32" | "i64" | "u64" | "bool" | "ptr" | "cstring" | "void";

export interface SymbolSpec {
  readonly args: readonly ArgType[];
  readonly returns: ReturnType;
}
export type Symbols = Readonly<Record<string, SymbolSpec>>;

/** A pointer C gave us: a number under Bun, a pointer object under Deno; never built from a number by callers. */
export type CPointer = { readonly __cPointer: unique symbol };

type ArgValue<A> = A extends "ptr" ? CPointer | null : A extends "buf" ? ArrayBufferView | null : A extends "bool" ? boolean : A extends "i64" | "u64" ? number | bigint : number;
type ReturnValue<R> = R extends "ptr" ? CPointer | null : R extends "cstring" ? string : R extends "void" ? void : R extends "bool" ? boolean : R extends "i64" | "u64" ? bigint : number;

type ArgValues<T extends readonly ArgType[]> = { -readonly [I in keyof T]: ArgValue<T[I]> };

/** The functions a symbol table gives: 64-bit results as bigint, C strings as strings. */
export type Functions<S extends Symbols> = {
  [K in keyof S]: (...args: ArgValues<S[K]["args"]>) => ReturnValue<S[K]["returns"]>;
};

/** A runtime's dlopen() functions, unadapted. */
export type RawFunctions = Record<string, (...args: unknown[]) => unknown>;

/** `raw` with native.ts's results: C strings through `cString` (the runtime's own reading), 64-bit integers as bigint. */
export function adapt<S extends Symbols>(symbols: S, raw: RawFunctions, cString: (returned: unknown) => string): Functions<S> {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(symbols)) {
    const f = raw[name]!;
    out[name] =
      s.returns === "cstring" ? (...a: unknown[]) => cString(f(...a)) : s.returns === "u64" || s.returns === "i64" ? (...a: unknown[]) => BigInt(f(...a) as number | bigint) : f;
  }
  return out as Functions<S>;
}

export interface NativeBinding {
  /** dlopen(): throws with the loader's message when the library or a symbol is missing. */
  open<S extends Symbols>(library: string, symbols: S): Functions<S>;
  /** The memory at `at` (a pointer, or an address such as mmap's result), `length` bytes, not copied. */
  memory(at: CPointer | bigint, length: number): ArrayBuffer;
  /** The pointer to an address C returned as an integer (mmap's), to pass back to C. */
  pointer(address: bigint): CPointer;
  /** A C function pointer that calls `fn`, on this thread and only while C is called from it. */
  callback(spec: SymbolSpec, fn: (...args: never[]) => number): { readonly pointer: CPointer; close(): void };
}
