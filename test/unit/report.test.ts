// `dmrec report` on the fixtures: a calm capture (signed), a flooded one, a forged one (an
// intruder's rewrite, endorsed with the host's own key: only the pin catches it) and a
// crashed one (unsealed), in Markdown and HTML, checked for what a ticket reader needs
// first. Then the crafted fixture, whose every text is markup, links or table pipes:
// rendered by a real CommonMark + GFM implementation (markdown-it, HTML and linkify on,
// as permissive as a renderer gets), the Markdown yields no link, image, table, heading
// or tag of the capture's; the HTML holds none either. test/e2e/report_page.test.ts opens
// the pages in Chromium.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import MarkdownIt from "markdown-it";
import { codeSpan } from "../../src/report/markdown.ts";
import { MAX_SHOWN_BYTES } from "../../src/report/document.ts";
import { MAX_LINES } from "../../src/report/facts.ts";
import { MAX_GROUPS } from "../../src/query/stats.ts";
import { ROOT, tempDir, writeCapture } from "../support/captures.ts";
import { latin1, makeEvent } from "../support/events.ts";

const tmp = tempDir("dmrec-report-");
afterAll(() => tmp.cleanup());

const fixture = (name: string) => join(ROOT, "fixtures", name);
const SIGNED_PIN = "c9e197eae2ddab5a8c6f12faeca5822f4e580a674cda5f27cd613da9054ea912";
const PUBKEY = fixture("test-key.pub.pem");

function dmrec(...args: string[]) {
  const r = Bun.spawnSync([process.execPath, "src/main.ts", ...args], { cwd: ROOT });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** `dmrec report ARGS` in both formats: the exit code must be the same. */
function report(...args: string[]) {
  const md = dmrec("report", ...args);
  const html = dmrec("report", ...args, "--format", "html");
  expect(md.stderr).toBe("");
  expect(html.stderr).toBe("");
  expect(html.code).toBe(md.code);
  return { code: md.code, md: md.stdout, html: html.stdout };
}

const markdown = new MarkdownIt({ html: true, linkify: true });
/** The page's text, tags gone and entities read back, for checking content the way a reader sees it. */
const pageText = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/, "")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");

describe("a calm capture, authenticated", () => {
  const r = report(fixture("signed.cbor.zst"), "--pubkey", PUBKEY);
  test("verdict first, with how far authenticity reaches and from which key", () => {
    expect(r.code).toBe(0);
    const lines = r.md.split("\n");
    expect(lines[0]).toBe("# dmrec report: `" + fixture("signed.cbor.zst") + "`");
    expect(lines[2]).toBe("**Verdict: OK**: the evidence is intact; authenticated.");
    expect(r.md).toContain(`authentic: every segment and the seal, signed by a forward-secure key chain from first key ${SIGNED_PIN}, vouched for by the --pubkey given`);
  });
  test("host, kernel, hook, time range and counts", () => {
    expect(r.md).toContain("host `fixture-host`, kernel `6.1.0-28-amd64` (`x86_64`), hook kprobe + module_free + find_module");
    expect(r.md).toContain("calls from 2025-11-26T00:57:54.000000Z to 2025-11-26T00:57:54.011000Z (11ms)");
    expect(r.md).toContain("11 calls: 11 individual events, 0 aggregated; 8 succeeded, 3 failed; 5 lost");
  });
  test("each successful unload on one line, with who did it", () => {
    const unloads = r.md.split("\n").filter((l) => l.includes(" unloaded by "));
    expect(unloads.length).toBe(8);
    expect(unloads.at(-1)).toMatch(/^- 2025-11-26T00:57:54\.011000Z: `nf_tables` unloaded by `rmmod` \(pid 2011, uid 0, exe `\/usr\/bin\/kmod`, argv `rmmod [^`]+`\); flags `O_EXCL\|O_NONBLOCK`, module freed$/);
  });
  test("losses stated plainly", () => {
    expect(r.md).toContain("- **5 calls lost** (the kernel side saw them but could not report them: ringbuf_full 5), noticed at 2025-11-26T00:57:54.010000Z");
  });
  test("the page says the same", () => {
    const text = pageText(r.html);
    expect(text).toContain("Verdict: OK: the evidence is intact; authenticated.");
    expect(text).toContain("11 calls: 11 individual events, 0 aggregated; 8 succeeded, 3 failed; 5 lost");
    expect(text).toContain("2025-11-26T00:57:54.011000Z: nf_tables unloaded by rmmod (pid 2011");
    expect(r.html).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    // The timeline marks each listed unload.
    expect(r.html.match(/unloaded<\/title><line /g)?.length).toBe(8);
  });
});

describe("a flooded capture", () => {
  const r = report(fixture("flood.cbor.zst"));
  test("every flood summarised: process, name, errno, calls, span", () => {
    expect(r.code).toBe(0);
    expect(r.md).toContain("- `flooder` (pid 5151, uid 65534) asking for `nosuch`: 250000 calls, `EPERM`, from 2025-11-26T00:57:54.003000Z to 2025-11-26T00:57:54.040000Z (37ms), in 1 aggregate record");
    expect(r.md).toContain("- `flooder` (pid 5151, uid 65534) asking for any name: 40000 calls, `EPERM`");
    expect(r.md).toContain("- every process together (scope all) asking for any name: 1200 calls, failed");
  });
  test("calls without CAP_SYS_MODULE counted, and the real unload among them found", () => {
    expect(r.md).toContain("### Calls without CAP_SYS_MODULE (290003)");
    expect(r.md).toContain("- `flooder` (pid 5151, uid 65534, exe `/tmp/flooder`): 3 calls from");
    expect(r.md).toContain("### Successful unloads (1)");
    expect(r.md).toContain(": `dummy` unloaded by `rmmod` (pid 2020,");
  });
  test("not authenticated without a pin or key, and says how to get there", () => {
    expect(r.md).toContain("**Verdict: OK**: the evidence is intact; not authenticated, see Evidence.");
    expect(r.md).toContain("which nothing given vouches for: run dmrec verify --pin with the fingerprint record printed, or --pubkey");
  });
  test("the timeline draws the flood and marks the unload", () => {
    expect(r.html.match(/unloaded<\/title><line /g)?.length).toBe(1);
    // The first bucket holds the three events and the first aggregate.
    expect(r.html).toMatch(/<title>2025-11-26T00:57:54\.000000Z \+ 10ms: 250003 calls, 0 ok, 250003 failed<\/title>/);
  });
});

describe("a forged capture: an intruder's rewrite, endorsed with the host's own key", () => {
  test("the long-term key alone does not see it", () => {
    const r = report(fixture("forged.cbor.zst"), "--pubkey", PUBKEY);
    expect(r.code).toBe(0);
  });
  test("the pin printed when recording began does, first thing, and report exits as verify does", () => {
    const r = report(fixture("forged.cbor.zst"), "--pin", SIGNED_PIN);
    expect(r.code).toBe(dmrec("verify", fixture("forged.cbor.zst"), "--pin", SIGNED_PIN).code);
    expect(r.code).toBe(14);
    const lines = r.md.split("\n");
    expect(lines[2]).toMatch(/^> \*\*Verdict: BAD SIGNATURE\*\*: the evidence is forged: /);
    expect(r.md).toMatch(/is not pinned, and nothing else given vouches for it/);
    expect(r.html).toContain('<p class="verdict alarm"><strong>Verdict: BAD SIGNATURE</strong>');
  });
});

describe("a crashed capture (no seal)", () => {
  const r = report(fixture("unsealed.cbor.zst"), "--pin", "3c2d0b921780b18c4577a2437195830308279424f5ab29c2312fb496abe7372d");
  test("unsealed, how much is authentic, and what it holds", () => {
    expect(r.code).toBe(13);
    expect(r.md).toMatch(/^> \*\*Verdict: UNSEALED\*\*: the evidence is intact as far as it goes, but not sealed/m);
    expect(r.md).toContain("authentic through segment 3 of 3, calls up to 2025-11-26T00:57:54.006000Z");
    expect(r.md).toContain("### Successful unloads (7)");
  });
});

describe("a damaged capture", () => {
  test("the damage is stated, and what came before it is reported", () => {
    const bytes = new Uint8Array(require("node:fs").readFileSync(fixture("signed.cbor.zst")));
    const cut = tmp.path("cut.cbor.zst");
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const r = report(cut);
    expect(r.code).toBe(12);
    expect(r.md).toMatch(/^> \*\*Verdict: TRUNCATED\*\*/m);
    expect(r.md).toMatch(/- \*\*damaged: \*\*`[^`]+cut\.cbor\.zst: [^`]+`; the figures above cover what comes before/);
  });
});

describe("a crafted capture", () => {
  const r = report(fixture("crafted.cbor.zst"));
  const rendered = markdown.render(r.md);

  test("its Markdown, rendered, holds no link, image, table, heading or tag of the capture's", () => {
    expect(r.code).toBe(0);
    for (const tag of ["<a ", "<a>", "<img", "<script", "<table", "<iframe", "<svg", "<b>", "<i>", "<em>"]) expect(rendered).not.toContain(tag);
    // Our headings only: one h1, and the h2/h3 of the sections.
    expect(rendered.match(/<h1>/g)?.length).toBe(1);
    expect(rendered.match(/<h[1-6]>/g)?.length).toBe(r.md.split("\n").filter((l) => l.startsWith("#")).length);
    // <strong> only where we put it: the verdict and the loss line (none lost here).
    expect(rendered.match(/<strong>/g)?.length).toBe(1);
  });

  test("every hostile text shows, as text, in a code span", () => {
    for (const t of ["<script>alert(1)</script>", "[click](https://evil.example/x)", "a|b|c\\x0a|---|---|", "![p](https://evil.example/p.png)", "https://evil.example/auto www.evil.example", "<img src=x onerror=alert(1)>"]) {
      const escaped = t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
      expect(rendered).toContain(`<code>${escaped}</code>`);
    }
    expect(rendered).toContain("<code>x`y``z` </code>");
    expect(rendered).toContain("<code>&lt;b&gt;evil&lt;/b&gt;[x](https://evil.example)</code>");
    expect(rendered).toContain("<code>| hidden | table |</code>");
    expect(rendered).toContain("<code>&lt;script&gt;EPERM&lt;/script&gt;</code>");
  });

  test("its page holds no element and no attribute of the capture's", () => {
    const tags = [...r.html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase());
    const ours = new Set(["html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li", "code", "strong", "i", "svg", "g", "rect", "line", "path", "text"]);
    expect(tags.filter((t) => !ours.has(t))).toEqual([]);
    // Capture text has every < escaped, so each tag is ours: none has an event handler.
    expect([...r.html.matchAll(/<[a-zA-Z][^>]*>/g)].filter((m) => /\son[a-z]+\s*=/i.test(m[0]))).toEqual([]);
    expect(r.html).not.toMatch(/<script/i);
    expect(pageText(r.html)).toContain("<script>alert(1)</script> unloaded by </code><script>x</script>");
  });

  test("the page forbids every script, style sheet, font and fetch", () => {
    expect(r.html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">`);
  });
});

describe("a capture whose wall clock stepped back while recording", () => {
  test("each step is stated, with when and by how much", () => {
    const file = tmp.path("clock.cbor.zst");
    const T = 1764118674000000000n;
    const hour = 3_600_000_000_000n;
    writeCapture(file, [
      makeEvent({ ts_ns: T }),
      { type: "clock", ts_ns: T - hour + 1_000_000n, boot_ns: 5_000_000_000n, prev_boot_ns: 4_900_000_000n, old_boot_to_wall_ns: T - 4_000_000_000n, boot_to_wall_ns: T - 4_000_000_000n - hour },
      makeEvent({ ts_ns: T - hour + 2_000_000n }),
    ]);
    const md = report(file).md;
    expect(md).toContain("- the wall clock stepped by 1h back at 2025-11-25T23:57:54.001000Z; times after it use the new clock");
    expect(md).not.toContain("The wall clock did not step");
  });
});

describe("a capture built to drown the report", () => {
  // 20,000 processes without CAP_SYS_MODULE, each asking for its own name, 1,000 unloads,
  // and a name and a command line of 100 kB.
  const file = tmp.path("drown.cbor.zst");
  const T0 = 1764118674000000000n;
  const big = latin1("M".repeat(100_000));
  writeCapture(file, [
    ...Array.from({ length: 20_000 }, (_, i) =>
      makeEvent({ ts_ns: T0 + BigInt(i), pid: 10_000 + i, uid: 1000, cap_sys_module: false, cap_effective: 0n, ret: -1, errno: "EPERM", name: latin1(`n${i}`) }),
    ),
    ...Array.from({ length: 1000 }, (_, i) => makeEvent({ ts_ns: T0 + 20_000n + BigInt(i), pid: 2, name: i === 0 ? big : latin1("dummy"), argv: i === 0 ? [latin1("rmmod"), big] : null })),
  ], { segmentEvents: 4096 });
  const r = report(file);

  test("each list keeps its first entries and counts the rest, pointing to the command that lists them", () => {
    expect(r.md).toContain("### Successful unloads (1000)");
    expect(r.md.split("\n").filter((l) => l.includes(" unloaded by ")).length).toBe(MAX_LINES);
    expect(r.md).toContain(`- and ${1000 - MAX_LINES} more: dmrec query --result ok`);
    expect(r.md).toContain("### Calls without CAP_SYS_MODULE (20000)");
    expect(r.md).toContain(`- and ${MAX_GROUPS - MAX_LINES} more processes: dmrec stats --by process`);
    expect(r.md).toContain(`- more than ${MAX_GROUPS} distinct processes or names: those past it are in the counts, not in the lists`);
  });
  test("a 100 kB name and command line are cut, saying how long they were", () => {
    expect(r.md).toContain(`\`${"M".repeat(MAX_SHOWN_BYTES)}\` (the first ${MAX_SHOWN_BYTES} of 100000 bytes) unloaded by`);
    expect(r.md).toContain(`argv \`rmmod ${"M".repeat(MAX_SHOWN_BYTES - 6)}\` (the first ${MAX_SHOWN_BYTES} of 100006 bytes)`);
    expect(r.md.length).toBeLessThan(100_000);
    expect(r.html.length).toBeLessThan(150_000);
  });
});

describe("a report over many files", () => {
  test("one host line for a host's files, and the first 50 verdicts and problems, the rest counted", () => {
    // 60 copies of one file: each verifies, and all claim to be file 1 of the same set.
    const files = Array.from({ length: 60 }, (_, i) => {
      const f = join(tmp.dir, `copy-${String(i).padStart(2, "0")}.cbor.zst`);
      writeFileSync(f, require("node:fs").readFileSync(fixture("empty.cbor.zst")));
      return f;
    });
    const md = dmrec("report", ...files).stdout;
    expect(md.split("\n")[0]).toBe("# dmrec report: `" + files[0] + "` and 59 other files");
    expect(md).toContain("- `" + files[0] + "` and 59 other files: host `fixture-host`");
    expect(md.split("\n").filter((l) => /^- `[^`]+copy-\d+\.cbor\.zst`: intact; /.test(l)).length).toBe(MAX_LINES);
    expect(md).toContain("- and 10 more files (10 ok): dmrec verify lists each");
    expect(md.split("\n").filter((l) => l.startsWith("- problem: ")).length).toBe(MAX_LINES);
    expect(md).toMatch(/\n- and \d+ more problems: dmrec verify lists each\n/);
  });
});

describe("code spans", () => {
  test("show any run of backticks, and leading or trailing spaces, exactly", () => {
    const md = new MarkdownIt();
    for (const t of ["a", "`", "``", "a`b", "`a`", " a ", "  ", "x ` y", "a``` b"]) {
      const html = md.renderInline(codeSpan(t));
      expect(html).toBe(`<code>${t}</code>`);
    }
    expect(codeSpan("")).toBe("(empty)");
  });
});

describe("the command line", () => {
  test("--out creates the file once the captures are read, never over one without --force", () => {
    const out = tmp.path("r.html");
    expect(dmrec("report", fixture("small.cbor.zst"), "--format", "html", "--out", out).code).toBe(0);
    const again = dmrec("report", fixture("small.cbor.zst"), "--out", out);
    expect(again.code).toBe(5);
    expect(again.stderr).toBe(`dmrec: ${out}: exists (use --force to overwrite)\n`);
    const missing = tmp.path("none.md");
    const bad = dmrec("report", join(tmp.dir, "no-such.cbor.zst"), "--out", missing);
    expect(bad.code).toBe(3);
    expect(require("node:fs").existsSync(missing)).toBe(false);
  });
  test("standard input is refused with one line: the captures are read twice", () => {
    const r = dmrec("report", "-");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("dmrec: -: report reads each capture twice (verify, then its calls); save standard input to a file first\n");
  });
  test("filters narrow the calls, and the report says so", () => {
    const r = dmrec("report", fixture("signed.cbor.zst"), "--module", "nf_tables");
    expect(r.stdout).toContain("- only the calls that match the filters given are counted");
    expect(r.stdout).toContain("### Successful unloads (1)");
  });
});
