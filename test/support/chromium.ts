// Opens an HTML file in a real headless Chromium and reports what a person, and the
// browser's console, would see: a screenshot, the console messages, and every error:
// exceptions, console.error, CSP violations, and any network request at all (the page
// must be self-contained). Chromium is driven over the DevTools protocol (CDP), which
// reports these precisely, where `--screenshot` mode only leaves stderr to scrape.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { crc32, inflateSync } from "node:zlib";

/** Debian's launcher: it checks the CPU, then execs /usr/lib/chromium/chromium. */
const CHROMIUM = "/usr/bin/chromium";

export function chromiumPath(): string {
  if (!existsSync(CHROMIUM)) throw new Error("chromium is not installed: run scripts/install-deps as root");
  return CHROMIUM;
}

export interface Rendered {
  /** Each console call and browser log entry, as `level: text` (`level (source): text` for the log). */
  consoleMessages: string[];
  /** What makes the page wrong: exceptions, console.error/assert, log errors, network requests, dialogs. */
  errors: string[];
  /** The screenshot's path (pngOut). */
  png: string;
}

export interface RenderOptions {
  width?: number;
  height?: number;
  /** The limit for the whole render, launch to screenshot (60 s); past it renderPage throws. */
  timeoutMs?: number;
}

// Nothing the page asks for may leave the machine, nor reach a server on it: every
// request goes to a proxy that is not there (loopback too, which Chromium otherwise
// sends direct), and no host name resolves. The rest keeps the browser's own
// background traffic and first-run work from starting at all.
const FLAGS = [
  "--headless",
  "--no-sandbox", // the tests run as root, where Chromium's sandbox refuses to start
  "--disable-gpu",
  "--disable-dev-shm-usage", // a container's small /dev/shm would crash the renderer
  "--proxy-server=127.0.0.1:9",
  "--proxy-bypass-list=<-loopback>",
  "--host-resolver-rules=MAP * ~NOTFOUND",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--no-first-run",
  "--no-default-browser-check",
  "--mute-audio",
  "--hide-scrollbars",
  "--force-device-scale-factor=1",
  "--remote-debugging-port=0", // 127.0.0.1 only; the port chosen is in DevToolsActivePort
];

type Json = Record<string, any>; // CDP's messages, read only for the fields used below

/** One WebSocket to the browser; page commands are sent in the page's flat session. */
class Cdp {
  private nextId = 0;
  private pending = new Map<number, { resolve: (r: Json) => void; reject: (e: Error) => void; method: string }>();
  private closed: Error | undefined;

  private constructor(
    private ws: WebSocket,
    onEvent: (method: string, params: Json, sessionId?: string) => void,
  ) {
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as Json;
      if (m.id === undefined) return onEvent(m.method, m.params, m.sessionId);
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`CDP ${p.method}: ${m.error.message}`));
      else p?.resolve(m.result);
    };
    ws.onclose = () => {
      this.closed = new Error("the DevTools connection closed (did Chromium crash?)");
      for (const p of this.pending.values()) p.reject(this.closed);
      this.pending.clear();
    };
  }

  static async connect(url: string, onEvent: (method: string, params: Json, sessionId?: string) => void) {
    const ws = new WebSocket(url);
    await new Promise<void>((ok, fail) => {
      ws.onopen = () => ok();
      ws.onerror = () => fail(new Error(`cannot open the DevTools WebSocket ${url}`));
    });
    return new Cdp(ws, onEvent);
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    if (this.closed) return Promise.reject(this.closed);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  close() {
    this.ws.close();
  }
}

/** A console call's arguments as DevTools prints them, near enough to match on. */
function consoleText(args: Json[]): string {
  return args
    .map((a) => (a.value !== undefined ? String(a.value) : (a.unserializableValue ?? a.description ?? a.type)))
    .join(" ");
}

/** `work`, or an error naming `what` once `ms` have passed. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`chromium: ${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Loads `htmlFile` from file:// in a fresh headless Chromium (its own profile, no network),
 * screenshots the viewport (default 1200x1600) to `pngOut`, and returns what the page
 * logged and every error it caused. Chromium is always killed; a render that takes longer
 * than `timeoutMs` (60 s) throws.
 */
export async function renderPage(htmlFile: string, pngOut: string, opts: RenderOptions = {}): Promise<Rendered> {
  const { width = 1200, height = 1600, timeoutMs = 60_000 } = opts;
  const page = resolve(htmlFile);
  if (!existsSync(page)) throw new Error(`renderPage: no such file ${page}`);
  const pageUrl = pathToFileURL(page).href;
  const consoleMessages: string[] = [];
  const errors: string[] = [];

  // The profile and Chromium's stderr (a file: an unread pipe would fill and stall it).
  const base = mkdtempSync(join(tmpdir(), "dmrec-chromium-"));
  const profile = join(base, "profile");
  const log = join(base, "stderr.log");
  const browser = Bun.spawn(
    [chromiumPath(), ...FLAGS, `--user-data-dir=${profile}`, `--window-size=${width},${height}`, "about:blank"],
    // Its own process group, so that its zygote, GPU and renderer processes die with it.
    { stdin: "ignore", stdout: "ignore", stderr: Bun.file(log), detached: true },
  );
  // Less its complaints that there is no D-Bus, which it makes all the time and are harmless.
  const stderrTail = () =>
    existsSync(log)
      ? readFileSync(log, "utf8")
          .split("\n")
          .filter((l) => !l.includes(":ERROR:dbus/"))
          .join("\n")
          .slice(-3000)
      : "";

  let cdp: Cdp | undefined;
  let sessionId: string | undefined;
  // The load that counts is the file's: not that of the tab's first about:blank.
  let navigated = false;
  const loaded = Promise.withResolvers<void>();
  const onEvent = (method: string, p: Json, from?: string) => {
    if (from === undefined || from !== sessionId) return;
    switch (method) {
      case "Runtime.consoleAPICalled": {
        const text = consoleText(p.args ?? []);
        consoleMessages.push(`${p.type}: ${text}`);
        if (p.type === "error" || p.type === "assert") errors.push(`console.${p.type}: ${text}`);
        break;
      }
      case "Runtime.exceptionThrown": {
        // As DevTools prints it, "Uncaught (in promise) Error: x", and where it was thrown
        // (the stack in the description says that again).
        const d = p.exceptionDetails;
        const what = String(d.exception?.description ?? d.exception?.value ?? d.text).split("\n")[0];
        errors.push(`exception: ${d.text} ${what} (at ${d.url ?? pageUrl}:${d.lineNumber + 1}:${d.columnNumber + 1})`);
        break;
      }
      // The browser's own messages: CSP violations (source "security"), failed loads, ...
      case "Log.entryAdded": {
        const e = p.entry;
        consoleMessages.push(`${e.level} (${e.source}): ${e.text}`);
        if (e.level === "error") errors.push(`${e.source}: ${e.text}${e.url ? ` (${e.url})` : ""}`);
        break;
      }
      // Sent for every request, even one that CSP or the dead proxy then stops.
      case "Network.requestWillBeSent": {
        const url: string = p.request.url;
        if (url !== pageUrl && !url.startsWith("data:") && !url.startsWith("blob:")) {
          errors.push(`network request: ${p.request.method} ${url}`);
        }
        break;
      }
      // alert() and the like would hold the page until answered: dismissed, and an error.
      case "Page.javascriptDialogOpening":
        errors.push(`dialog: ${p.type}: ${p.message}`);
        cdp?.send("Page.handleJavaScriptDialog", { accept: false }, sessionId).catch(() => {});
        break;
      case "Page.frameNavigated":
        if (p.frame.parentId === undefined && p.frame.url === pageUrl) navigated = true;
        break;
      case "Page.loadEventFired":
        if (navigated) loaded.resolve();
        break;
    }
  };

  const render = async () => {
    const portFile = join(profile, "DevToolsActivePort");
    // "PORT\n/devtools/browser/ID", written once the browser listens.
    let lines: string[] = [];
    while (lines.length < 2) {
      if (browser.exitCode !== null) throw new Error(`chromium exited (${browser.exitCode}) before listening`);
      await Bun.sleep(50);
      if (existsSync(portFile)) lines = readFileSync(portFile, "utf8").split("\n").filter(Boolean);
    }
    cdp = await Cdp.connect(`ws://127.0.0.1:${lines[0]}${lines[1]}`, onEvent);
    // A tab of our own: the launch's about:blank may not be there yet.
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    ({ sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }));
    for (const domain of ["Runtime", "Log", "Network", "Page"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await cdp.send(
      "Emulation.setDeviceMetricsOverride",
      { width, height, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    const nav = await cdp.send("Page.navigate", { url: pageUrl }, sessionId);
    if (nav.errorText) throw new Error(`chromium could not load ${pageUrl}: ${nav.errorText}`);
    await loaded.promise;
    // Two frames after load: layout and paint are done, and what the scripts run on load
    // has been reported. DevTools' own evaluation is not subject to the page's CSP.
    await cdp.send(
      "Runtime.evaluate",
      { expression: "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))", awaitPromise: true },
      sessionId,
    );
    await Bun.sleep(100);
    const shot = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId);
    writeFileSync(pngOut, Buffer.from(shot.data, "base64"));
  };

  try {
    await within(timeoutMs, `rendering ${page}`, render()).catch((e: Error) => {
      throw new Error(`${e.message}\n--- chromium stderr (tail) ---\n${stderrTail()}`);
    });
    return { consoleMessages, errors, png: pngOut };
  } finally {
    // Browser.close lets Chromium reap its own children; the group is killed either way,
    // for what a crash or a hang left behind (it may already be gone: ESRCH).
    const closed = Promise.all([cdp?.send("Browser.close").catch(() => {}), browser.exited]);
    await within(5_000, "Browser.close", closed).catch(() => {});
    cdp?.close();
    try {
      process.kill(-browser.pid, "SIGKILL");
    } catch {}
    await within(10_000, "exiting after SIGKILL", browser.exited);
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }
}

export interface PngStats {
  width: number;
  height: number;
  distinctColors: number;
  /** Pixels whose colour differs from the top-left pixel's, over all pixels. */
  nonBackgroundFraction: number;
}

const PNG_SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

/**
 * Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are) on
 * its own, so that the check that a screenshot is not blank depends on no image library.
 */
export function pngStats(pngFile: string): PngStats {
  const png = readFileSync(pngFile);
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error(`${pngFile}: not a PNG`);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (png.readUInt32BE(at + 8 + length) !== crc32(png.subarray(at + 4, at + 8 + length))) {
      throw new Error(`${pngFile}: bad CRC in chunk ${type}`);
    }
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = data.subarray(8, 13);
      channels = colour === 2 ? 3 : colour === 6 ? 4 : 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) {
        throw new Error(
          `${pngFile}: only 8-bit RGB/RGBA non-interlaced (depth ${depth}, colour type ${colour}, interlace ${interlace})`,
        );
      }
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  if (channels === 0) throw new Error(`${pngFile}: no IHDR`);

  // Undo each row's filter in place; `a`, `b`, `c` are left, up and up-left (0 off the edge).
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error(`${pngFile}: image data is short`);
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[row + x - channels]! : 0;
      const b = y > 0 ? pixels[row - stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[row - stride + x - channels]! : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`${pngFile}: row ${y} has unknown filter type ${filter}`);
      }
      pixels[row + x] = (src[x]! + predicted) & 0xff;
    }
  }

  // Each pixel as one number (RGB or RGBA), to count colours and compare with the corner.
  const colourAt = (i: number) =>
    channels === 3
      ? (pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!
      : ((pixels[i]! << 24) | (pixels[i + 1]! << 16) | (pixels[i + 2]! << 8) | pixels[i + 3]!) >>> 0;
  const background = colourAt(0);
  const colours = new Set<number>();
  let other = 0;
  for (let i = 0; i < pixels.length; i += channels) {
    const c = colourAt(i);
    colours.add(c);
    if (c !== background) other++;
  }
  const fraction = width * height > 0 ? other / (width * height) : 0;
  return { width, height, distinctColors: colours.size, nonBackgroundFraction: fraction };
}
