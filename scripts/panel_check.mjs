// Checks the /debug panel in a real headless Chromium (driven by playwright-core):
// it loads without console errors, its numbers match /debug/stats, and the test chat shows a
// streamed answer. Usage: node scripts/panel_check.mjs http://127.0.0.1:PORT
// scripts/panel-check starts the proxy in --demo mode with debug mode on and runs this.
import { chromium } from "playwright-core";

const base = process.argv[2];
const fail = (message) => { console.error("panel check FAILED: " + message); process.exit(1); };

// A few calls first, so the numbers are not all zero.
for (let i = 0; i < 3; i++) {
  const res = await fetch(base + "/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi " + i }] }),
  });
  if (!res.ok) fail("warm-up call answered " + res.status);
  await res.text();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));

  await page.goto(base + "/debug");
  await page.waitForFunction(() => document.getElementById("total").textContent !== "–");
  await page.waitForFunction(() => document.querySelectorAll("#models tr").length > 0);

  const stats = await (await fetch(base + "/debug/stats")).json();
  for (const field of ["total", "success", "failed", "timeout", "retry"]) {
    const shown = (await page.textContent("#" + field)).replace(/[^0-9]/g, "");
    if (Number(shown) !== stats[field]) fail(`#${field} shows ${shown}, /debug/stats says ${stats[field]}`);
  }
  const keyRows = await page.locator("#keys tr").count();
  if (keyRows !== 1) fail(`the keys table has ${keyRows} rows, expected 1`);
  const bars = await page.locator("#chart rect").count();
  if (bars !== 14 * 3) fail(`the chart has ${bars} bars, expected 42`);
  const rows = await page.locator("#calls tr").count();
  if (rows !== stats.total) fail(`the calls table has ${rows} rows, expected ${stats.total}`);
  const max = await page.getAttribute("#chat-max-tokens", "max");
  const value = await page.inputValue("#chat-max-tokens");
  if (max !== "4000" || value !== "1000") fail(`max_tokens input: max ${max}, value ${value}`);

  // The test chat: record every state of the answer while it streams in.
  await page.evaluate(() => {
    window.answerStates = [];
    const el = document.getElementById("chat-answer");
    new MutationObserver(() => window.answerStates.push(el.textContent))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
  await page.click("#chat-send");
  await page.waitForFunction(() => !document.getElementById("chat-send").disabled
    && document.getElementById("chat-answer").textContent.length > 0, null, { timeout: 15000 });
  const answer = await page.textContent("#chat-answer");
  const states = await page.evaluate(() => [...new Set(window.answerStates.filter((s) => s))]);
  if (answer !== "Hello! How can I help you today?") fail("the test chat answered " + JSON.stringify(answer));
  if (states.length < 3) fail(`the answer arrived in ${states.length} step(s), not streamed: ${JSON.stringify(states)}`);

  // A call row opens its capture.
  await page.waitForFunction((n) => document.querySelectorAll("#calls tr").length >= n, stats.total + 1);
  await page.click("#calls tr.click >> nth=0");
  await page.waitForFunction(() => document.getElementById("modal").classList.contains("open"));
  const capture = await page.textContent("#modal-body");
  if (!capture.includes("\"attempts\"")) fail("the capture view shows no attempts");

  await page.click("#modal-close");
  if (process.env.PANEL_SCREENSHOT) await page.screenshot({ path: process.env.PANEL_SCREENSHOT, fullPage: true });

  if (problems.length) fail(problems.join("\n"));
  console.log(`panel check passed: numbers match /debug/stats (total ${stats.total}), ` +
    `the test chat streamed in ${states.length} steps, no console errors`);
} finally {
  await browser.close();
}
