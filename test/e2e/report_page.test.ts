// `dmrec report --format html` from the shipped executable, opened in a real headless
// Chromium (test/support/chromium.ts): each fixture's page loads with no console error,
// exception, CSP violation or network request, and its screenshot is not blank. The
// crafted fixture's page, whose every text is markup, runs nothing and fetches nothing
// either (test/unit/report.test.ts checks that its markup holds none of the capture's).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pngStats, renderPage } from "../support/chromium.ts";
import { DMREC } from "../support/recorder.ts";

const dir = mkdtempSync(join(tmpdir(), "dmrec-report-page-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURES = ["signed", "flood", "forged", "unsealed", "crafted"];

for (const name of FIXTURES) {
  describe(`the report page of fixtures/${name}.cbor.zst`, () => {
    test("renders in Chromium without an error, and is not blank", async () => {
      const page = join(dir, `${name}.html`);
      const r = Bun.spawnSync([DMREC, "report", `fixtures/${name}.cbor.zst`, "--format", "html", "--out", page]);
      expect(r.stderr.toString()).toBe("");
      const shown = await renderPage(page, join(dir, `${name}.png`), { width: 1100, height: 1400 });
      expect(shown.errors).toEqual([]);
      const png = pngStats(shown.png);
      expect(png.width).toBe(1100);
      // Text, the verdict box and the timeline's bars: many colours, a tenth of the page or so.
      expect(png.distinctColors).toBeGreaterThan(100);
      expect(png.nonBackgroundFraction).toBeGreaterThan(0.05);
    }, 90_000);
  });
}
