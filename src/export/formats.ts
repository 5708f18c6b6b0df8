// The names of the SIEM export formats, apart from their renderers, so that the command
// line can offer them without loading the renderers (src/export/index.ts).
export const EXPORT_FORMATS = ["ecs", "ocsf", "timesketch"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The schema versions the documents follow (the vendored schemas under fixtures/schemas/ are these). */
export const ECS_VERSION = "9.4.0";
export const OCSF_VERSION = "1.8.0";

export const isExportFormat = (format: string): format is ExportFormat => (EXPORT_FORMATS as readonly string[]).includes(format);
