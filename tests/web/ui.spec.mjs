// The web UI in a real browser against a real server and chain (docs/web.md): upload the sample
// slices and watch the batch reach 100 %, open a result (finding, saliency toggle and opacity,
// "confirmed" with its block), the review queue, and an auditor who sees no upload control.
// Screenshots of each page go to the test output folder (MEDANCHOR_WEB_OUT).
import { test, expect } from '@playwright/test';
import path from 'node:path';
import fs from 'node:fs';

const root = path.resolve(import.meta.dirname, '../..');
const slices = fs.readdirSync(path.join(root, 'samples/ct'))
  .filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(root, 'samples/ct', f));
const out = process.env.MEDANCHOR_WEB_OUT || 'test-results';
const shot = (page, name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });

async function signIn(page, token) {
  await page.goto('/');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).press('Enter');
  await expect(page.locator('#who')).toContainText('Signed in as');
}

test('a radiologist analyses the sample slices and follows one result to the chain', async ({ page, request }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_RADIOLOGIST);
  await page.getByLabel(/Choose images/).setInputFiles(slices);
  await page.getByRole('button', { name: 'Analyse' }).click();
  await expect(page.locator('#batch-percent')).toHaveText('100 %', { timeout: 90_000 });
  const rows = page.locator('#results tbody tr');
  await expect(rows).toHaveCount(slices.length);
  for (let i = 0; i < slices.length; ++i)
    await expect(rows.nth(i).locator('.state')).toHaveText('analysed');
  await shot(page, 'analyse');

  // The first result: what the page says is what the API says.
  const link = rows.first().getByRole('link', { name: /Open result/ });
  const id = (await link.textContent()).match(/\d+/)[0];
  await link.click();
  const api = await (await request.get(`/api/analyses/${id}`, {
    headers: { Authorization: `Bearer ${process.env.MEDANCHOR_TOKEN_RADIOLOGIST}` } })).json();
  await expect(page.locator('#finding')).toHaveText(api.finding);
  await expect(page.locator('#confidence')).toHaveText(`${(api.confidence_bp / 100).toFixed(1)} %`);
  await expect(page.locator('#base-image')).toHaveJSProperty('complete', true);
  await expect.poll(() => page.locator('#base-image').evaluate((img) => img.naturalWidth)).toBe(256);

  // The saliency overlay: a toggle and an opacity slider, both by keyboard.
  const overlay = page.locator('#overlay-image');
  await expect(overlay).toBeVisible();
  await page.getByLabel('Show saliency overlay').press('Space');
  await expect(overlay).toBeHidden();
  await page.getByLabel('Show saliency overlay').press('Space');
  await expect(overlay).toBeVisible();
  await page.getByLabel('Overlay opacity').fill('40');
  await expect(overlay).toHaveCSS('opacity', '0.4');

  await expect(page.locator('#anchoring')).toContainText(/Confirmed on chain in block \d+/, { timeout: 90_000 });
  await expect(page.locator('#txid')).toHaveText(/^[0-9a-f]{64}$/);
  await shot(page, 'result');

  await page.getByRole('link', { name: 'Review queue' }).click();
  await expect(page.getByRole('table', { name: 'Held analyses' })).toBeVisible();
  await shot(page, 'review');
});

test('an auditor sees no write controls', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  await expect(page.locator('#who')).toContainText('(auditor)');
  await expect(page.getByText('Your role can read results but not upload images.')).toBeVisible();
  await expect(page.getByLabel(/Choose images/)).toBeHidden();
  await expect(page.getByRole('button', { name: 'Analyse' })).toBeHidden();
  await shot(page, 'auditor');
});

test('a wrong token is refused and nothing is shown', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Access token').fill('0'.repeat(64));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#who')).toContainText('Sign-in failed: unknown bearer token');
  await expect(page.locator('#page-analyse')).toBeHidden();
});
