// test/support/chromium.ts against the real headless Chromium: a page that draws shows in
// the screenshot and a blank one does not, and each kind of error a page can cause
// (console.error, an exception, a network request, a CSP violation) is reported. The PNG
// decoder is also checked on images made here with every filter type, which Chromium's
// own encoder may not use.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { chromiumPath, pngStats, renderPage } from "../support/chromium.ts";

const dir = mkdtempSync(join(tmpdir(), "dmrec-chromium-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `body` as NAME.html and renders it to NAME.png. */
async function render(name: string, body: string, opts?: { width?: number; height?: number }) {
  const html = join(dir, `${name}.html`);
  writeFileSync(html, `<!doctype html><html><head><meta charset="utf-8">${body}</html>`);
  return renderPage(html, join(dir, `${name}.png`), opts);
}

describe("renderPage, in real Chromium", () => {
  test("is Debian's chromium", () => {
    expect(chromiumPath()).toBe("/usr/bin/chromium");
  });

  test("a page with text and an inline SVG: drawn, and no error", async () => {
    const r = await render(
      "drawn",
      `<title>t</title></head><body style="font-family: sans-serif">
        <h1>dmrec report</h1><p>Twelve unloads in 3 hosts.</p>
        <svg width="300" height="120"><rect x="10" y="10" width="200" height="100" fill="#3060c0"/>
          <circle cx="250" cy="60" r="40" fill="#c03030"/></svg>
        <script>console.log("ready", 3)</script></body>`,
    );
    expect(r.errors).toEqual([]);
    expect(r.consoleMessages).toEqual(["log: ready 3"]);
    const s = pngStats(r.png);
    expect({ width: s.width, height: s.height }).toEqual({ width: 1200, height: 1600 });
    expect(s.distinctColors).toBeGreaterThan(2);
    expect(s.nonBackgroundFraction).toBeGreaterThan(0.001);
  }, 60_000);

  test("text alone draws: a font is installed", async () => {
    const r = await render("text", `</head><body style="font: 40px sans-serif">dmrec</body>`, {
      width: 400,
      height: 200,
    });
    expect(r.errors).toEqual([]);
    expect(pngStats(r.png).nonBackgroundFraction).toBeGreaterThan(0.01);
  }, 60_000);

  test("a blank white page: nothing but the background, at the size asked for", async () => {
    const r = await render("blank", `</head><body style="background: #fff"></body>`, { width: 640, height: 480 });
    expect(r.errors).toEqual([]);
    const s = pngStats(r.png);
    expect({ width: s.width, height: s.height }).toEqual({ width: 640, height: 480 });
    expect(s.nonBackgroundFraction).toBe(0);
    expect(s.distinctColors).toBe(1);
  }, 60_000);

  test("console.error is an error", async () => {
    const r = await render("console", `</head><body><script>console.error("boom")</script></body>`);
    expect(r.consoleMessages).toContain("error: boom");
    expect(r.errors).toEqual(["console.error: boom"]);
  }, 60_000);

  test("an uncaught exception is an error", async () => {
    const r = await render("throw", `</head><body><script>throw new Error("x")</script></body>`);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^exception: Uncaught Error: x \(at file:\/\/.*\/throw\.html:1:\d+\)$/);
  }, 60_000);

  test("any network request is an error, and none leaves the machine", async () => {
    const r = await render(
      "network",
      `<link rel="stylesheet" href="https://example.invalid/s.css"></head>
       <body><img src="http://example.invalid/a.png"><img src="http://127.0.0.1:9/b.png">
       <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body>`,
    );
    const requests = r.errors.filter((e) => e.startsWith("network request: "));
    expect(requests.sort()).toEqual([
      "network request: GET http://127.0.0.1:9/b.png",
      "network request: GET http://example.invalid/a.png",
      "network request: GET https://example.invalid/s.css",
    ]);
    // They failed: the dead proxy refused them (data: is inline, not a request).
    expect(r.errors.filter((e) => !e.startsWith("network request: ")).join("\n")).toMatch(/ERR_PROXY|Failed to load/);
  }, 60_000);

  test("a script that the page's CSP blocks is reported, and did not run", async () => {
    const r = await render(
      "csp",
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>
       <body><p>text</p><script>console.log("ran")</script></body>`,
    );
    expect(r.consoleMessages).not.toContain("log: ran");
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^security: .*violates the following Content Security Policy directive/);
  }, 60_000);

  test("alert() is an error, and does not hold the page", async () => {
    const r = await render("alert", `</head><body><script>alert("hi"); console.log("after")</script></body>`);
    expect(r.errors).toEqual(["dialog: alert: hi"]);
    expect(r.consoleMessages).toEqual(["log: after"]);
  }, 60_000);

  test("a missing file throws, before starting Chromium", async () => {
    await expect(renderPage(join(dir, "none.html"), join(dir, "none.png"))).rejects.toThrow(/no such file/);
  });
});

/** A PNG of `pixels` (row-major, `channels` bytes each), row y filtered with type y % 5. */
function encodePng(width: number, height: number, channels: 3 | 4, pixels: Uint8Array): Buffer {
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : pixels[y * stride + x]!);
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const [a, b, c] = [at(x - channels, y), at(x, y - 1), at(x - channels, y - 1)];
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predicted = [0, a, b, (a + b) >> 1, paeth][filter]!;
      raw[y * (stride + 1) + 1 + x] = (at(x, y) - predicted) & 0xff;
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, channels === 3 ? 2 : 6, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("pngStats", () => {
  for (const channels of [3, 4] as const) {
    test(`decodes ${channels === 3 ? "RGB" : "RGBA"} through all five filter types`, () => {
      const [width, height] = [13, 10]; // every filter twice, on rows of odd length
      const pixels = new Uint8Array(width * height * channels);
      let seed = 7;
      for (let i = 0; i < pixels.length; i++) pixels[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      // A background of one colour over the first rows, noise beneath, so both counts matter.
      pixels.fill(200, 0, width * 3 * channels);
      const file = join(dir, `filters-${channels}.png`);
      writeFileSync(file, encodePng(width, height, channels, pixels));

      const key = (i: number) => pixels.subarray(i * channels, (i + 1) * channels).join(",");
      const all = Array.from({ length: width * height }, (_, i) => key(i));
      expect(pngStats(file)).toEqual({
        width,
        height,
        distinctColors: new Set(all).size,
        nonBackgroundFraction: all.filter((k) => k !== all[0]).length / (width * height),
      });
    });
  }

  test("refuses what it does not decode, and a damaged file, rather than guessing", () => {
    const file = join(dir, "grey.png");
    const png = encodePng(2, 2, 3, new Uint8Array(12));
    png[8 + 8 + 9] = 0; // IHDR's colour type, made 0: greyscale
    writeFileSync(file, png);
    expect(() => pngStats(file)).toThrow(/bad CRC in chunk IHDR/);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // IHDR's CRC, made right again
    writeFileSync(file, png);
    expect(() => pngStats(file)).toThrow(/only 8-bit RGB\/RGBA non-interlaced \(depth 8, colour type 0/);
  });
});
