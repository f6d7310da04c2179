// Opens an HTML email part in headless Chromium, as a mail client shows it
// (scripts off), saves a screenshot, and reports what a reader sees.
// Usage: node email.mjs <html-file> <screenshot.png>
// Prints one JSON line: {"text": "...", "images": n, "dialogs": n, "outside": [...]}.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [file, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // Scripts on: an injected handler would run, and be counted.
  const page = await browser.newPage({ viewport: { width: 720, height: 460 } });
  const outside = [];
  let dialogs = 0;
  page.on("request", (request) => {
    if (!request.url().startsWith("data:") && request.url() !== "about:blank") outside.push(request.url());
  });
  page.on("dialog", async (dialog) => { dialogs += 1; await dialog.dismiss(); });
  await page.setContent(readFileSync(file, "utf8"), { waitUntil: "load" });
  const text = await page.evaluate(() => document.body.innerText);
  const images = await page.evaluate(() => document.images.length);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ text, images, dialogs, outside }));
} finally {
  await browser.close();
}
