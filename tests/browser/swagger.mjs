// Opens Swagger UI in headless Chromium, checks every operation is listed,
// enters an API key through "Authorize", creates an order through
// "Try it out", and saves a screenshot.
// Usage: node swagger.mjs <base-url> <screenshot.png> <api-key>
// Prints one JSON line: {"operations": [...], "status": "201", "body": {...}}.
import { launch } from "./chromium.mjs";

const [base, screenshot, key] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const outside = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(base)) outside.push(request.url());
  });
  await page.goto(`${base}/docs`);
  await page.waitForSelector(".opblock", { timeout: 15000 });
  const operations = await page.$$eval(".opblock", (blocks) =>
    blocks.map((b) => `${b.querySelector(".opblock-summary-method").textContent.trim()} ` +
                      `${b.querySelector(".opblock-summary-path").getAttribute("data-path")}`));

  // As a person would: Authorize, paste the key, Authorize, Close.
  await page.locator(".scheme-container .btn.authorize").click();
  await page.locator(".auth-container input").first().fill(key);
  await page.locator(".auth-btn-wrapper .btn.authorize").click();
  await page.locator(".auth-btn-wrapper .btn-done").click();

  const create = page.locator("#operations-orders-create_order");
  await create.locator(".opblock-summary").click();
  await create.getByRole("button", { name: "Try it out" }).click();
  await create.getByRole("button", { name: "Execute" }).click();
  const status = create.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.textContent()).trim();
  const body = await create.locator(".live-responses-table tbody .response-col_description pre").first().textContent();
  await create.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ operations, status: code, body: JSON.parse(body), outside }));
} finally {
  await browser.close();
}
