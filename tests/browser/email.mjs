// Opens an HTML email part in headless Chromium, saves a screenshot, and
// reports what a reader sees. Scripts stay on, so that an injected handler
// would run and be counted.
// Usage: node email.mjs <html-file> <screenshot.png>
// Prints one JSON line: {"text": "...", "images": n, "dialogs": n, "outside": [...]}.
import { readFileSync } from "node:fs";
import { launch } from "./chromium.mjs";

const [file, screenshot] = process.argv.slice(2);
const browser = await launch();
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
