// Checks the console (/admin) in a real headless Chromium (driven by playwright-core): the
// password prompt (a wrong password is refused, the right one unlocks), today's numbers match
// the API, adding a key (it lands in .env, never shown in full) and disabling it, disabling a
// model (gone from /v1/models), sorting, every calls filter, the capture viewer (a conversation,
// closed by Escape), the streamed test chat, layouts from 360 px to desktop with no horizontal
// page scroll, and the banner when the proxy goes away.
// Usage: node scripts/panel_check.mjs http://127.0.0.1:PORT PASSWORD ENV_FILE PROXY_PID
// scripts/panel-check starts the proxy in --demo mode with debug mode on and runs this.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, password, envFile, proxyPid] = process.argv.slice(2);
const shots = process.env.PANEL_SCREENSHOTS;
const fail = (message) => { console.error("panel check FAILED: " + message); process.exit(1); };
const check = (ok, message) => { if (!ok) fail(message); };
const NEW_KEY = "sk-or-v1-panelcheck0000000000000000000000000000000000000000000000042";
const auth = { Authorization: "Bearer " + password };
const api = async (path) => {
  const res = await fetch(base + "/admin/api" + path, { headers: auth });
  check(res.ok, `${path} answered ${res.status}`);
  return res.json();
};
const chat = async (body) => {
  const res = await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
};

// Calls of each kind first: three that succeed, one refused (a paid model), so the numbers
// and the filters have something to show.
for (let i = 0; i < 3; i++) check(await chat({ messages: [{ role: "user", content: "hi " + i }] }) === 200, "a warm-up call failed");
check(await chat({ model: "openai/gpt-4o", messages: [{ role: "user", content: "paid" }] }) === 400, "the paid call was not refused");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
function watch(page) {
  page.on("console", (m) => {
    // The refused password (401) and the stopped proxy show as failed loads: both expected.
    if (m.type() === "error" && !/status of 401|ERR_CONNECTION_REFUSED|Failed to fetch/.test(m.text())) problems.push("console: " + m.text());
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("dialog", (d) => d.accept());
}
async function noPageScroll(page, label) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  check(scroll <= width, `${label}: the page is ${scroll} px wide in a ${width} px window`);
}
const text = (page, selector) => page.textContent(selector);

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  watch(page);

  // The password prompt: asked once, a wrong one is refused, the right one unlocks.
  await page.goto(base + "/admin");
  await page.waitForSelector("#auth:not([hidden])");
  await page.fill("#auth-input", "not-the-password");
  await page.click("#auth-submit");
  await page.waitForFunction(() => document.getElementById("auth-msg").textContent.includes("refused"));
  await page.fill("#auth-input", password);
  await page.click("#auth-submit");
  await page.waitForFunction(() => document.getElementById("auth").hidden
    && document.querySelectorAll("#models-body tr[data-id]").length > 0
    && document.querySelectorAll("#calls-body tr.click").length > 0);
  check(await page.evaluate(() => sessionStorage.getItem("orp-console-secret")) === password, "the password is not kept for the tab");

  // Today's numbers are the API's.
  const usage = await api("/usage?days=14");
  check((await text(page, "#t-total")) === String(usage.today.total), `#t-total shows ${await text(page, "#t-total")}, the API says ${usage.today.total}`);
  check(usage.today.total === 4 && usage.today.failed === 1, "the warm-up calls were not all counted: " + JSON.stringify(usage.today));
  check((await text(page, "#t-rate")) === "75%", "the success rate shows " + await text(page, "#t-rate"));
  check(/\d/.test(await text(page, "#t-p50")) && /\d/.test(await text(page, "#t-p95")), "no latency percentiles");
  // The chart: an axis with values, a legend, today marked.
  const chart = await page.evaluate(() => ({
    labels: [...document.querySelectorAll("#chart text")].map((t) => t.textContent),
    bars: document.querySelectorAll("#chart rect").length,
  }));
  check(chart.labels.includes("today") && chart.labels.includes("0") && chart.labels.includes("4"), "the chart's axis or labels: " + chart.labels.join(" "));
  check(chart.bars >= 3, "the chart has no bars for today");
  check((await text(page, "#chart-legend")).includes("timeout"), "the chart has no legend");
  check(await page.locator("#model-usage tr").count() >= 1, "no usage per model");
  if (shots) await page.screenshot({ path: shots + "/desktop.png", fullPage: true });

  // Adding a key: it lands in .env (the comment kept), is never shown in full, and can be disabled.
  const before = readFileSync(envFile, "utf8");
  await page.fill("#key-input", NEW_KEY);
  await page.click("#key-add");
  await page.waitForFunction(() => document.querySelectorAll("#keys-body tr[data-id]").length === 2);
  const after = readFileSync(envFile, "utf8");
  check(after === before.replace("OPENROUTER_API_KEYS=", "OPENROUTER_API_KEYS=" + NEW_KEY), ".env after adding: " + after);
  check(!(await page.evaluate(() => document.body.innerText)).includes(NEW_KEY), "the full key is shown on the page");
  const added = (await api("/keys")).keys.find((k) => NEW_KEY.startsWith(k.masked.slice(0, 12)) && k.masked.endsWith("042"));
  check(added && added.enabled, "the added key is not listed as enabled");
  await page.click(`#keys-body tr[data-id="${added.id}"] button:has-text("Disable")`);
  await page.waitForFunction((id) => {
    const row = document.querySelector(`#keys-body tr[data-id="${id}"]`);
    return row && row.textContent.includes("disabled") && row.textContent.includes("Enable");
  }, added.id);
  check(!(await api("/keys")).keys.find((k) => k.id === added.id).enabled, "the key is not disabled in the API");
  // With every key disabled, a banner says no key can serve; it goes when one is back.
  const demoKey = (await api("/keys")).keys.find((k) => k.id !== added.id);
  await page.click(`#keys-body tr[data-id="${demoKey.id}"] button:has-text("Disable")`);
  await page.waitForSelector("#warning:not([hidden])");
  check((await text(page, "#warning")).includes("disabled"), "the warning says " + await text(page, "#warning"));
  await page.click(`#keys-body tr[data-id="${demoKey.id}"] button:has-text("Enable")`);
  await page.waitForSelector("#warning", { state: "hidden" });

  // Disabling a model: unchecked, it leaves /v1/models; sorting and search work.
  const models = (await api("/models")).models;
  const victim = models.find((m) => m.enabled && m.id.includes("llama")) || models[0];
  await page.fill("#model-search", victim.id);
  await page.waitForFunction((id) => [...document.querySelectorAll("#models-body tr[data-id]")].every((r) => r.dataset.id.includes(id)), victim.id);
  await page.uncheck(`#models-body tr[data-id="${victim.id}"] input[type=checkbox]`);
  await page.waitForFunction((id) => document.querySelector(`#models-body tr[data-id="${id}"]`).classList.contains("off"), victim.id);
  const listed = (await (await fetch(base + "/v1/models")).json()).data.map((m) => m.id);
  check(!listed.includes(victim.id), "the disabled model is still in /v1/models");
  check(!(await page.evaluate(() => [...document.querySelectorAll("#chat-model option")].map((o) => o.value))).includes(victim.id), "the test chat still offers the disabled model");
  await page.fill("#model-search", "");
  await page.click('#models th[data-sort="context_length"] button');
  const contexts = await page.evaluate(() => [...document.querySelectorAll("#models-body tr[data-id]")]
    .map((r) => Number(r.children[3].textContent.replace(/,/g, "")) || -1));
  check(contexts.length > 5 && contexts.every((c, i) => i === 0 || contexts[i - 1] >= c), "sorting by context: " + contexts.join(" "));

  // Every filter of the calls table.
  const callRows = () => page.locator("#calls-body tr.click").count();
  const waitInfo = (n) => page.waitForFunction((n) => document.getElementById("calls-info").textContent.endsWith(`· ${n} calls`), n);
  await waitInfo(4);
  await page.selectOption("#f-outcome", "failed"); await waitInfo(1);
  check(await callRows() === 1, "outcome=failed does not show the one failed call");
  await page.selectOption("#f-outcome", ""); await waitInfo(4);
  await page.fill("#f-q", "not a free model"); await waitInfo(1);
  await page.fill("#f-q", ""); await waitInfo(4);
  const someModel = await page.evaluate(() => [...document.querySelectorAll("#f-model option")].map((o) => o.value).find((v) => v));
  await page.selectOption("#f-model", someModel);
  await page.waitForFunction((m) => [...document.querySelectorAll("#calls-body tr.click")].every((r) => r.children[1].textContent === m), someModel);
  await page.selectOption("#f-model", "");
  await page.selectOption("#f-route", "chat"); await waitInfo(4);
  await page.selectOption("#f-route", "");
  const keyId = (await api("/keys")).keys[0].id;
  await page.selectOption("#f-key", keyId); await waitInfo(3);
  await page.selectOption("#f-key", "");
  await page.fill("#f-date", "2001-01-01"); await waitInfo(0);
  await page.fill("#f-date", ""); await waitInfo(4);
  // The CSV export holds the filtered set (here: the one failed call).
  await page.selectOption("#f-outcome", "failed"); await waitInfo(1);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#calls-csv")]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\r\n");
  check(csv.length === 2 && csv[0].startsWith("time,model") && csv[1].includes(",failed,"), "the CSV export: " + csv.join(" | "));
  await page.selectOption("#f-outcome", ""); await waitInfo(4);
  await page.click('#calls th[data-sort="latency"] button');
  await page.waitForFunction(() => document.querySelector('#calls th[data-sort="latency"]').getAttribute("aria-sort") === "descending");

  // The capture viewer: the request's messages, the answer, the attempts; Escape closes it.
  await page.click('#calls th[data-sort="time"] button');
  await page.selectOption("#f-outcome", "success"); await waitInfo(3);
  await page.click("#calls-body tr.click >> nth=0");
  await page.waitForFunction(() => document.getElementById("capture").open);
  const viewer = await page.evaluate(() => ({
    messages: document.getElementById("capture-messages").innerText,
    answer: document.getElementById("capture-answer").innerText,
    attempts: document.querySelectorAll("#capture-attempts tr").length,
    foldedEvents: !document.getElementById("capture-events-box").open,
  }));
  check(/user\s+hi \d/i.test(viewer.messages), "the capture shows no user message: " + viewer.messages);
  check(viewer.answer.includes("Hello"), "the capture shows no answer: " + viewer.answer);
  check(viewer.attempts === 1 && viewer.foldedEvents, "attempts or folded events: " + JSON.stringify(viewer));
  if (shots) await page.screenshot({ path: shots + "/capture.png" });
  await page.click("#capture-copy");
  await page.waitForFunction(() => document.getElementById("capture-copy").textContent === "Copied");
  const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  check(copied.request && copied.attempts && copied.response, "the copy button copied " + JSON.stringify(copied).slice(0, 200));
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => !document.getElementById("capture").open);
  await page.selectOption("#f-outcome", "");

  // The test chat streams its answer, with a system prompt, and says tokens and timings.
  const maxAttrs = await page.evaluate(() => { const i = document.getElementById("chat-max-tokens"); return [i.min, i.max, i.step, i.value]; });
  check(maxAttrs.join() === "100,4000,100,1000", "max_tokens input: " + maxAttrs.join());
  await page.fill("#chat-system", "Answer briefly.");
  await page.evaluate(() => {
    window.answerStates = [];
    const out = document.getElementById("chat-answer");
    new MutationObserver(() => window.answerStates.push(out.textContent)).observe(out, { childList: true, characterData: true, subtree: true });
  });
  await page.click("#chat-send");
  await page.waitForFunction(() => !document.getElementById("chat-send").disabled && document.getElementById("chat-info").textContent.includes("total"), null, { timeout: 15000 });
  const answer = await text(page, "#chat-answer");
  const states = await page.evaluate(() => [...new Set(window.answerStates.filter((s) => s))]);
  check(answer === "Hello! How can I help you today?", "the test chat answered " + JSON.stringify(answer));
  check(states.length >= 3, `the answer arrived in ${states.length} step(s), not streamed`);
  const info = await text(page, "#chat-info");
  check(/tokens \d+ in \/ \d+ out/.test(info) && /first token \d/.test(info), "the chat info: " + info);
  check(await page.isDisabled("#chat-stop"), "Stop stays enabled after the answer");
  await page.waitForFunction(() => document.getElementById("calls-info").textContent.endsWith("· 5 calls"));
  // Stop ends a streaming answer part way.
  await page.click("#chat-send");
  await page.waitForFunction(() => document.getElementById("chat-answer").textContent.length > 0);
  await page.click("#chat-stop");
  await page.waitForFunction(() => document.getElementById("chat-info").textContent.includes("stopped"));
  const partial = await text(page, "#chat-answer");
  check(partial.length > 0 && partial !== answer, "Stop did not cut the answer: " + JSON.stringify(partial));

  // The tables refresh by themselves: a call made elsewhere shows up without a click.
  // (The stopped call is recorded when the proxy sees its client gone: compare with the API.)
  check(await chat({ messages: [{ role: "user", content: "from elsewhere" }] }) === 200, "a call from elsewhere failed");
  const inSync = async () => (await text(page, "#calls-info")).endsWith(`· ${(await api("/calls")).total} calls`);
  let synced = false;
  for (let waited = 0; waited < 15000 && !synced; waited += 500) {
    synced = await inSync();
    if (!synced) await page.waitForTimeout(500);
  }
  check(synced, "the calls table did not refresh by itself: " + await text(page, "#calls-info"));
  // One clock: 24 h, never AM/PM.
  check(!/\b[AP]M\b/.test(await page.evaluate(() => document.body.innerText)), "a 12-hour time is shown");

  // Widths: no horizontal scroll of the page, tables scroll in their own box.
  for (const [width, height, name] of [[1600, 1000, "wide"], [1400, 900, "desktop-1400"], [820, 1180, "tablet"], [390, 844, "phone-390"], [360, 740, "phone-360"]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(250);
    await noPageScroll(page, name);
    if (width >= 1400) {
      // Issue 14: the "Resting until" column was cut off even at 1400 px.
      const cut = await page.evaluate(() => { const box = document.querySelector("#models .scroll"); return box.scrollWidth - box.clientWidth; });
      check(cut <= 0, `${name}: the models table is cut by ${cut} px`);
    }
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  }
  // At 390 px the 14-day chart fits and shows today; the capture viewer fits too.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(250);
  const fits = await page.evaluate(() => {
    const svg = document.getElementById("chart").getBoundingClientRect();
    const today = [...document.querySelectorAll("#chart text")].find((t) => t.textContent === "today").getBoundingClientRect();
    return svg.right <= window.innerWidth && today.right <= svg.right + 1;
  });
  check(fits, "at 390 px the chart or today's bar is cut off");
  await page.click("#calls-body tr.click >> nth=0");
  await page.waitForFunction(() => document.getElementById("capture").open);
  await noPageScroll(page, "the capture at 390 px");
  await page.keyboard.press("Escape");

  // Dark mode follows the system.
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(dark !== "rgb(245, 246, 248)", "dark mode does not change the page: " + dark);
  if (shots) await page.screenshot({ path: shots + "/dark.png", fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  // A new tab asks again; the proxy going away shows a banner, not a stale page.
  const other = await context.newPage();
  watch(other);
  await other.goto(base + "/admin");
  await other.waitForSelector("#auth:not([hidden])");
  await other.close();
  process.kill(Number(proxyPid));
  await page.waitForSelector("#offline:not([hidden])", { timeout: 10000 });
  check((await text(page, "#offline")).includes("cannot be reached"), "the offline banner says " + await text(page, "#offline"));

  if (problems.length) fail(problems.join("\n"));
  console.log(`panel check passed: password prompt, numbers match the API (${usage.today.total} calls), key added and ` +
    `disabled, the no-key warning, model disabled, sorting, filters, CSV, capture viewer with copy, test chat streamed in ` +
    `${states.length} steps and stopped, tables refresh by themselves, 360-1600 px without page scroll, dark mode, ` +
    `offline banner, no console errors`);
} finally {
  await browser.close();
}
