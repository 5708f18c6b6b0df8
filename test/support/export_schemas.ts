// Validators of the SIEM exports against the official schema files vendored under
// fixtures/schemas/ (its README names each file's source, version and licence), shared by
// the renderer tests (test/unit/export.test.ts) and the command-line tests
// (test/unit/export_cli.test.ts): every ECS field, type and allowed value against ECS's
// ecs_flat.yml; every OCSF attribute, requirement, constraint, profile and enum against the
// class, object, profile and dictionary files, resolved through `extends` and `$include` as
// the OCSF schema defines them; Timesketch's fields as its JSONL importer reads them.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExportFormat } from "../../src/export/index.ts";
import { ROOT } from "./captures.ts";

const SCHEMAS = join(ROOT, "fixtures/schemas");
export const readText = (path: string) => readFileSync(join(SCHEMAS, path), "utf8");

export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** `doc.a.b.c` */
export function at(doc: unknown, path: string): unknown {
  let v = doc;
  for (const k of path.split(".")) v = isObject(v) ? v[k] : undefined;
  return v;
}


// ---------------------------------------------------------------- ECS

interface EcsField {
  type: string;
  normalize?: string[];
  required?: boolean;
  allowed_values?: { name: string; expected_event_types?: string[] | null }[];
  expected_values?: string[];
}

export const ECS = Bun.YAML.parse(readText("ecs/ecs_flat.yml")) as Record<string, EcsField>;
// The one field outside ECS and dmrec.*: auditbeat's, which Elastic's auditd rules match on
// (detection-rules lists it as a keyword in its non-ECS schema; that file is under the
// Elastic License, so it is named here rather than vendored).
const AUDITBEAT: Record<string, string> = { "auditd.data.syscall": "keyword" };

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const isString = (v: unknown) => typeof v === "string";
const ECS_TYPES: Record<string, (v: unknown) => boolean> = {
  keyword: isString,
  constant_keyword: isString,
  wildcard: isString,
  match_only_text: isString,
  ip: isString,
  long: (v) => Number.isSafeInteger(v),
  integer: (v) => Number.isInteger(v) && Math.abs(v as number) < 2 ** 31,
  float: (v) => typeof v === "number",
  double: (v) => typeof v === "number",
  scaled_float: (v) => typeof v === "number",
  boolean: (v) => typeof v === "boolean",
  date: (v) => typeof v === "string" && ISO_DATE.test(v),
};

function leaves(v: unknown, path = "", out: [string, unknown][] = []): [string, unknown][] {
  if (isObject(v)) for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  else out.push([path, v]);
  return out;
}

/** What is wrong with a document as ECS sees it; dmrec.* is ours and not checked. */
export function ecsProblems(doc: Json): string[] {
  const problems: string[] = [];
  const fields = leaves(doc).filter(([path]) => path !== "dmrec" && !path.startsWith("dmrec."));
  for (const [path, value] of fields) {
    const def = ECS[path] ?? (path in AUDITBEAT ? { type: AUDITBEAT[path]! } : undefined);
    if (!def) {
      problems.push(`${path}: not an ECS field`);
      continue;
    }
    const array = def.normalize?.includes("array") === true;
    if (array !== Array.isArray(value)) problems.push(`${path}: ${array ? "must be an array" : "must not be an array"}`);
    const check = ECS_TYPES[def.type];
    for (const x of Array.isArray(value) ? value : [value]) {
      if (!check) problems.push(`${path}: no check for type ${def.type}`);
      else if (!check(x)) problems.push(`${path}: ${JSON.stringify(x)} is not of type ${def.type}`);
      if (def.allowed_values && !def.allowed_values.some((a) => a.name === x)) problems.push(`${path}: ${JSON.stringify(x)} is not an allowed value`);
      if (def.expected_values && !def.expected_values.includes(x as string)) problems.push(`${path}: ${JSON.stringify(x)} is not an expected value`);
    }
  }
  // event.type must be one that each event.category expects.
  const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : v === undefined ? [] : [v as string]);
  const categories = list(at(doc, "event.category"));
  for (const type of list(at(doc, "event.type"))) {
    for (const c of categories) {
      const expected = ECS["event.category"]!.allowed_values!.find((a) => a.name === c)?.expected_event_types ?? [];
      if (!expected.includes(type)) problems.push(`event.type: ${type} is not expected for event.category ${c}`);
    }
  }
  const present = new Set(fields.map(([p]) => p));
  for (const [name, def] of Object.entries(ECS)) if (def.required && !present.has(name)) problems.push(`${name}: required`);
  return problems;
}

// ---------------------------------------------------------------- OCSF

export const OCSF = join(SCHEMAS, "ocsf");
export const readJson = (dir: string, path: string) => JSON.parse(readFileSync(join(dir, path), "utf8"));

interface Attr {
  requirement?: string;
  profile?: string | null;
  type?: string;
  is_array?: boolean;
  enum?: Record<string, { caption: string }>;
  "@deprecated"?: unknown;
}
interface Def {
  name?: string;
  uid?: number;
  caption: string;
  extends?: string;
  category?: string;
  attributes?: Record<string, Attr> & { $include?: string[] };
  constraints?: { at_least_one?: string[]; just_one?: string[] };
}
interface Resolved {
  attrs: Record<string, Attr>;
  constraints?: Def["constraints"];
}

const DICTIONARY = readJson(OCSF, "dictionary.json") as {
  attributes: Record<string, Attr & { sibling?: string }>;
  types: { attributes: Record<string, { type?: string; regex?: string }> };
};
const CATEGORIES = readJson(OCSF, "categories.json").attributes as Record<string, { uid: number; caption: string }>;

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith(".json") ? [join(dir, e.name)] : [],
  );
}

const CLASSES: Record<string, Def> = Object.fromEntries(
  jsonFiles(join(OCSF, "events")).map((f) => JSON.parse(readFileSync(f, "utf8")) as Def).map((d) => [d.name, d]),
);
const OBJECTS: Record<string, Def> = Object.fromEntries(
  jsonFiles(join(OCSF, "objects")).map((f) => JSON.parse(readFileSync(f, "utf8")) as Def).map((d) => [d.name, d]),
);
// An extension's object without a name of its own patches the core object it extends.
const PATCHES: Record<string, { def: Def; ext: string }[]> = {};
for (const ext of readdirSync(join(OCSF, "extensions"))) {
  for (const f of jsonFiles(join(OCSF, "extensions", ext, "objects"))) {
    const def = JSON.parse(readFileSync(f, "utf8")) as Def;
    if (def.name === undefined && def.extends) (PATCHES[def.extends] ??= []).push({ def, ext });
  }
}

const mergeAttr = (a: Attr | undefined, b: Attr): Attr => ({ ...a, ...b, ...(a?.enum || b.enum ? { enum: { ...a?.enum, ...b.enum } } : {}) });

function mergeAttrs(base: Record<string, Attr>, over: Record<string, Attr>): Record<string, Attr> {
  const out = { ...base };
  for (const [k, a] of Object.entries(over)) out[k] = mergeAttr(out[k], a);
  return out;
}

/** A file's attributes: its $include'd profiles' (bound to that profile), then its own over them. */
function ownAttributes(def: Def, root: string, ext: string | null): Record<string, Attr> {
  const { $include = [], ...own } = def.attributes ?? {};
  let attrs: Record<string, Attr> = {};
  for (const path of $include) {
    const profile = readJson(root, path) as Def;
    const name = ext === null ? profile.name! : `${ext}/${profile.name}`;
    for (const [k, a] of Object.entries(profile.attributes ?? {})) attrs[k] = { profile: name, ...(a as Attr) };
  }
  attrs = mergeAttrs(attrs, own as Record<string, Attr>);
  return attrs;
}

function resolveClass(name: string): Resolved & { def: Def; category?: string; activities: Record<string, { caption: string }> } {
  const def = CLASSES[name];
  if (!def) throw new Error(`class ${name} is not vendored`);
  const parent = def.extends ? resolveClass(def.extends) : undefined;
  const attrs = mergeAttrs(parent?.attrs ?? {}, ownAttributes(def, OCSF, null));
  const activities = { ...DICTIONARY.attributes.activity_id!.enum, ...attrs.activity_id?.enum };
  return { def, attrs, constraints: def.constraints ?? parent?.constraints, category: def.category ?? parent?.category, activities };
}

function resolveObject(name: string): Resolved {
  const def = OBJECTS[name];
  if (!def) throw new Error(`object ${name} is not vendored`);
  // A child's constraints replace its parent's (file.json's {} lifts _entity's).
  const parent = def.extends && def.extends !== "object" ? resolveObject(def.extends) : { attrs: {} };
  let attrs = mergeAttrs(parent.attrs, ownAttributes(def, OCSF, null));
  for (const p of PATCHES[name] ?? []) attrs = mergeAttrs(attrs, ownAttributes(p.def, join(OCSF, "extensions", p.ext), p.ext));
  return { attrs, constraints: def.constraints ?? parent.constraints };
}

/** The concrete classes by class_uid, with the enums OCSF generates for each: its class, category and type uids. */
export const CLASS_BY_UID = new Map(
  Object.keys(CLASSES)
    .filter((n) => n === "base_event" || CLASSES[n]!.uid !== undefined)
    .map((n) => {
      const c = resolveClass(n);
      const category = c.category === undefined ? undefined : CATEGORIES[c.category];
      const categoryUid = category?.uid ?? 0;
      const classUid = categoryUid * 1000 + (c.def.uid ?? 0);
      const categoryCaption = category?.caption ?? c.attrs.category_uid!.enum![0]!.caption;
      const types = Object.fromEntries(Object.entries(c.activities).map(([id, a]) => [classUid * 100 + Number(id), { caption: `${c.def.caption}: ${a.caption}` }]));
      const attrs: Record<string, Attr> = {
        ...c.attrs,
        class_uid: { ...c.attrs.class_uid, enum: { [classUid]: { caption: c.def.caption } } },
        category_uid: { ...c.attrs.category_uid, enum: { [categoryUid]: { caption: categoryCaption } } },
        type_uid: { ...c.attrs.type_uid, enum: types },
      };
      return [classUid, { attrs, constraints: c.constraints } satisfies Resolved];
    }),
);

const TYPES = DICTIONARY.types.attributes;
function primitive(type: string): string {
  let t = type;
  while (TYPES[t]?.type) t = TYPES[t]!.type!;
  return t;
}

function checkOcsfValue(v: unknown, type: string, path: string, profiles: string[], problems: string[]) {
  if (type === "object") {
    if (!isObject(v)) problems.push(`${path}: not an object`);
    return;
  }
  if (OBJECTS[type] || !TYPES[type]) {
    validateOcsf(v, resolveObject(type), `${path}.`, profiles, problems);
    return;
  }
  const ok = {
    integer_t: () => Number.isSafeInteger(v),
    long_t: () => Number.isSafeInteger(v),
    float_t: () => typeof v === "number",
    boolean_t: () => typeof v === "boolean",
    json_t: () => true,
    string_t: () => typeof v === "string" && (TYPES[type]?.regex === undefined || new RegExp(TYPES[type]!.regex!).test(v)),
  }[primitive(type)];
  if (!ok) problems.push(`${path}: no check for type ${type}`);
  else if (!ok()) problems.push(`${path}: ${JSON.stringify(v)} is not of type ${type}`);
}

function validateOcsf(value: unknown, resolved: Resolved, path: string, profiles: string[], problems: string[]) {
  if (!isObject(value)) {
    problems.push(`${path}: not an object`);
    return;
  }
  const inUse = (a: Attr) => !a.profile || profiles.includes(a.profile);
  for (const [k, v] of Object.entries(value)) {
    const a = resolved.attrs[k];
    const d = DICTIONARY.attributes[k];
    if (!a || !d) {
      problems.push(`${path}${k}: not an attribute here`);
      continue;
    }
    if (!inUse(a)) problems.push(`${path}${k}: needs the profile ${a.profile} in metadata.profiles`);
    if (a["@deprecated"] || d["@deprecated"]) problems.push(`${path}${k}: deprecated`);
    const type = a.type ?? d.type!;
    if (a.is_array ?? d.is_array) {
      if (!Array.isArray(v)) problems.push(`${path}${k}: must be an array`);
      else v.forEach((x, i) => checkOcsfValue(x, type, `${path}${k}[${i}]`, profiles, problems));
    } else {
      checkOcsfValue(v, type, `${path}${k}`, profiles, problems);
    }
    const values = d.enum || a.enum ? { ...d.enum, ...a.enum } : undefined;
    if (values) {
      const entry = values[String(v)];
      if (!entry) problems.push(`${path}${k}: ${JSON.stringify(v)} is not one of ${Object.keys(values).join(", ")}`);
      // For Other (99) the sibling holds the source's own word.
      else if (d.sibling && v !== 99 && d.sibling in value && value[d.sibling] !== entry.caption) {
        problems.push(`${path}${d.sibling}: ${JSON.stringify(value[d.sibling])} is not ${JSON.stringify(entry.caption)}`);
      }
    }
  }
  for (const [k, a] of Object.entries(resolved.attrs)) if (a.requirement === "required" && inUse(a) && !(k in value)) problems.push(`${path}${k}: required`);
  const { at_least_one, just_one } = resolved.constraints ?? {};
  if (at_least_one && !at_least_one.some((k) => k in value)) problems.push(`${path}: needs one of ${at_least_one.join(", ")}`);
  if (just_one && just_one.filter((k) => k in value).length !== 1) problems.push(`${path}: needs exactly one of ${just_one.join(", ")}`);
}

/** The profiles an event may declare: the core ones by name, an extension's as extension/name. */
const PROFILES = new Set([
  ...jsonFiles(join(OCSF, "profiles")).map((f) => (JSON.parse(readFileSync(f, "utf8")) as Def).name!),
  ...readdirSync(join(OCSF, "extensions")).flatMap((ext) =>
    jsonFiles(join(OCSF, "extensions", ext, "profiles")).map((f) => `${ext}/${(JSON.parse(readFileSync(f, "utf8")) as Def).name}`),
  ),
]);

/** What is wrong with an event as the vendored OCSF schema sees it. */
export function ocsfProblems(event: Json): string[] {
  const cls = CLASS_BY_UID.get(event.class_uid as number);
  if (!cls) return [`class_uid ${event.class_uid}: no such class`];
  const problems: string[] = [];
  const profiles = (at(event, "metadata.profiles") ?? []) as string[];
  validateOcsf(event, cls, "", profiles, problems);
  const extensions = (at(event, "metadata.extensions") ?? []) as Json[];
  for (const p of profiles) {
    if (!PROFILES.has(p)) problems.push(`metadata.profiles: ${p} is not a profile`);
    const ext = p.includes("/") ? (readJson(OCSF, `extensions/${p.split("/")[0]}/extension.json`) as Json) : undefined;
    if (ext && !extensions.some((e) => e.name === ext.name && e.uid === String(ext.uid) && e.version === ext.version)) {
      problems.push(`metadata.extensions: the profile ${p} needs its extension, ${ext.name} ${ext.version}`);
    }
  }
  if (event.type_uid !== (event.class_uid as number) * 100 + (event.activity_id as number)) problems.push("type_uid: not class_uid * 100 + activity_id");
  return problems;
}

// ---------------------------------------------------------------- Timesketch

const MANDATORY = ["message", "datetime", "timestamp_desc", "timestamp"];
const UTC_ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$/;

/** What is wrong with a line as Timesketch's JSONL importer reads it. */
export function timesketchProblems(line: string): string[] {
  const problems: string[] = [];
  const ev = JSON.parse(line) as Json;
  for (const k of MANDATORY) if (!(k in ev)) problems.push(`${k}: missing`);
  for (const k of ["message", "timestamp_desc"]) if (typeof ev[k] !== "string" || ev[k] === "") problems.push(`${k}: not a non-empty string`);
  const iso = typeof ev.datetime === "string" ? UTC_ISO.exec(ev.datetime) : null;
  // JSON.parse would round a µs count past 2^53: read the integer from the text.
  const ts = /"timestamp":(-?\d+)[,}]/.exec(line);
  if (!iso) problems.push(`datetime: ${JSON.stringify(ev.datetime)} is not ISO 8601 UTC`);
  if (!ts) problems.push("timestamp: not an integer");
  if (iso && ts) {
    const us = BigInt(Date.parse(`${iso[1]}Z`)) * 1000n + BigInt((iso[2] ?? "").padEnd(6, "0"));
    if (BigInt(ts[1]!) !== us) problems.push(`timestamp: ${ts[1]} µs is not ${ev.datetime}`);
  }
  return problems;
}

/** Each format's validator, on one line. */
export const PROBLEMS: Record<ExportFormat, (line: string) => string[]> = {
  ecs: (l) => ecsProblems(JSON.parse(l)),
  ocsf: (l) => ocsfProblems(JSON.parse(l)),
  timesketch: timesketchProblems,
};
