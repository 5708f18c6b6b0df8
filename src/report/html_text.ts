// Text as HTML (and SVG) shows it: the five characters that could open markup or end
// an attribute, as entities. The report page and its timeline both use it.
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function htmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
