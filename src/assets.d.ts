// `import x from "./file" with { type: "file" }` yields a path (a $bunfs path in
// a compiled executable) to read with Bun.file.
declare module "*.bpf.o" {
  const path: string;
  export default path;
}
