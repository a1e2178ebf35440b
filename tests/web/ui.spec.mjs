// The web UI in a real browser against a real server and chain (docs/web.md): upload the sample
// slices and watch the batch reach 100 %, open a result (finding, saliency toggle and opacity,
// "confirmed" with its block), the review queue; verify an anchored image and a copy with one
// pixel changed; a second radiologist confirms an analysis on chain; an auditor sees no write
// control anywhere; the Registry as the API gives it, a verifier suspending and reinstating a
// professional from it, an admin's controls.
// Screenshots of each page go to the test output folder (MEDANCHOR_WEB_OUT).
import { test, expect } from '@playwright/test';
import path from 'node:path';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

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
  // This server runs no DICOM listener: no PACS page (tests/web/pacs.spec.mjs has one).
  await expect(page.getByRole('link', { name: 'PACS', exact: true })).toBeHidden();
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

// One pixel changed: the last two bytes of these files are the last pixel's (16-bit, little
// endian, at the end of Pixel Data), so the copy is still a valid image with another hash.
function onePixelChanged(file) {
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 2] ^= 0x01;
  return { name: 'changed.dcm', mimeType: 'application/dicom', buffer: bytes };
}

test('an auditor verifies an anchored image, and a copy with one pixel changed is not found', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  await page.getByRole('link', { name: 'Verify' }).click();
  // The first slice: the first test followed its analysis to "confirmed".
  await page.getByLabel(/Choose an image/).setInputFiles(slices[0]);
  await expect(page.locator('#verdict')).toHaveText(/^Verified: a valid analysis/, { timeout: 30_000 });
  const rows = page.locator('#verify-table tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('Not reviewed yet');
  await expect(rows.first()).toContainText(/matches/);
  await shot(page, 'verify');

  await page.getByLabel(/Choose an image/).setInputFiles(onePixelChanged(slices[0]));
  await expect(page.locator('#verdict')).toHaveText(/^Not found: the chain holds no analysis/, { timeout: 30_000 });
  await expect(page.locator('#verify-table')).toBeHidden();
  await shot(page, 'verify-changed');

  // The same verdict by hash, pasted: the technical detail holds the hash.
  const hash = JSON.parse(await page.locator('#verify-json').textContent()).image_hash;
  expect(hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  await page.getByLabel('Image hash').fill(hash);
  await page.getByRole('button', { name: 'Verify hash' }).click();
  await expect(page.locator('#verdict')).toHaveText(/^Not found/);
});

test('a second radiologist confirms an anchored analysis on chain', async ({ page, request }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_REVIEWER);
  await page.getByRole('link', { name: 'Review queue' }).click();
  const table = page.getByRole('table', { name: 'Anchored analyses by others' });
  const row = table.locator('tbody tr').first();
  const id = (await row.getByRole('link').textContent()).match(/\d+/)[0];
  await row.getByLabel(`Your note on analysis ${id}`).fill('Agree: a nodule in the right upper lobe.');
  await row.getByRole('button', { name: `Confirm analysis ${id}` }).click();
  await expect(page.locator('#review-message')).toContainText(`Analysis ${id}: confirmed on chain in block`, { timeout: 60_000 });
  await shot(page, 'peer-review');
  // The chain says so: the analysis' verdict shows one confirmation.
  const headers = { Authorization: `Bearer ${process.env.MEDANCHOR_TOKEN_REVIEWER}` };
  const a = await (await request.get(`/api/analyses/${id}`, { headers })).json();
  const v = await (await request.get(`/api/verify/${a.image_hash}`, { headers })).json();
  const mine = v.analyses.find((x) => x.analysis_id === a.onchain_id);
  expect(mine.confirmations).toBe(1);
  expect(mine.status).toBe('confirmed');
});

test('an auditor sees no write controls', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  await expect(page.locator('#who')).toContainText('(auditor)');
  await expect(page.getByText('Your role can read results but not upload images.')).toBeVisible();
  await expect(page.getByLabel(/Choose images/)).toBeHidden();
  await expect(page.getByRole('button', { name: 'Analyse' })).toBeHidden();
  await shot(page, 'auditor');
  await page.getByRole('link', { name: 'Review queue' }).click();
  const peers = page.getByRole('table', { name: 'Anchored analyses by others' });
  await expect(peers.locator('tbody tr').first()).toBeVisible();
  await expect(peers.getByRole('button')).toHaveCount(0);
  await expect(peers.getByRole('textbox')).toHaveCount(0);
  await expect(peers.getByText('Your role cannot review').first()).toBeVisible();
  await shot(page, 'review-auditor');
  await peers.getByRole('link').first().click();
  await expect(page.locator('#finding')).not.toBeEmpty();
  await expect(page.getByRole('button', { name: 'Retract this analysis' })).toBeHidden();
});

test('an auditor reads the registry: parameters, models and professionals as the API gives them, no write control', async ({ page, request }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  await page.getByRole('link', { name: 'Registry' }).click();
  const headers = { Authorization: `Bearer ${process.env.MEDANCHOR_TOKEN_AUDITOR}` };
  const params = await (await request.get('/api/chain/parameters', { headers })).json();
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'models/ct-nodule-sim/model.json')));
  await expect(page.locator('#registry-parameters dd[data-field="model_count"]'))
    .toHaveText(String(params.parameters.model_count));
  await expect(page.locator('#registry-parameters dd[data-field="min_confidence"]'))
    .toHaveText(`${(params.parameters.min_confidence / 100).toFixed(1)} %`);
  await expect(page.locator('#registry-parameters dd[data-field="paused"]')).toHaveText('No');
  // The reference model, registered from its bundle: the page shows what its manifest says (the
  // hash is one of its networks', the one of the engine this build runs).
  const models = page.getByRole('table', { name: 'Models registered on the contract' });
  const model = models.locator('tbody tr', { hasText: `${manifest.name} ${manifest.version}` });
  await expect(model).toHaveCount(1);
  await expect(model).toContainText('Active');
  const hash = await model.locator('td.mono').textContent();
  expect(Object.values(manifest.networks).map((n) => n.sha256)).toContain(hash);
  // The verified radiologists with an account here are active; the verifier is no professional.
  const pros = page.getByRole('table', { name: 'Professionals with an account here' });
  await expect(pros.locator('tbody tr', { hasText: 'doc (radiologist)' })).toContainText('Active');
  const verifierRow = pros.locator('tbody tr', { hasText: 'ver (verifier)' });
  await expect(verifierRow.locator('td').nth(1)).toHaveText('verifier');
  await expect(verifierRow.locator('td').nth(2)).toHaveText('Not registered as a professional');
  await expect(page.locator('#page-registry').getByRole('button')).toHaveCount(0);
  await expect(page.locator('#page-registry').getByRole('textbox')).toHaveCount(0);
  await shot(page, 'registry');
});

test('a verifier suspends and reinstates a professional from the Registry; an admin has the admin controls', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_VERIFIER);
  await page.getByRole('link', { name: 'Registry' }).click();
  const pros = page.getByRole('table', { name: 'Professionals with an account here' });
  const row = pros.locator('tbody tr', { hasText: 'doc2 (radiologist)' });
  await expect(row.locator('td').nth(2)).toHaveText('Active');
  // A verifier credentials; the admin's controls are not theirs.
  await expect(page.getByRole('button', { name: /Pause/ })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /Retire model/ })).toHaveCount(0);
  await row.getByRole('button', { name: 'Suspend doc2' }).click();
  await expect(page.locator('#registry-message')).toContainText('Suspend doc2: done on chain in block', { timeout: 60_000 });
  await expect(row.locator('td').nth(2)).toHaveText('Inactive: Suspended');
  await shot(page, 'registry-verifier');
  await row.getByRole('button', { name: 'Reinstate doc2' }).click();
  await expect(page.locator('#registry-message')).toContainText('Reinstate doc2: done on chain in block', { timeout: 60_000 });
  await expect(row.locator('td').nth(2)).toHaveText('Active');

  // A new tab: the token is kept per tab (sessionStorage).
  const admin = await page.context().newPage();
  await signIn(admin, process.env.MEDANCHOR_TOKEN_ADMIN);
  await admin.getByRole('link', { name: 'Registry' }).click();
  await expect(admin.getByRole('button', { name: 'Pause submissions and reviews' })).toBeVisible();
  await expect(admin.getByLabel(/Minimum confidence \(basis points/)).toBeVisible();
  await expect(admin.getByRole('button', { name: 'Retire model 1' })).toBeVisible();
  await shot(admin, 'registry-admin');
});

test('a wrong token is refused and nothing is shown', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Access token').fill('0'.repeat(64));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#who')).toContainText('Sign-in failed: unknown bearer token');
  await expect(page.locator('#page-analyse')).toBeHidden();
});

// Every object URL the page makes and has not revoked (an image held in memory).
const countBlobs = () => {
  window.liveBlobs = new Set();
  const create = URL.createObjectURL.bind(URL);
  const revoke = URL.revokeObjectURL.bind(URL);
  URL.createObjectURL = (b) => { const u = create(b); window.liveBlobs.add(u); return u; };
  URL.revokeObjectURL = (u) => { window.liveBlobs.delete(u); revoke(u); };
};

test('signing out forgets the token and the images fetched with it', async ({ page }) => {
  await page.addInitScript(countBlobs);
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  // The first result's saliency map is held back until the second result is shown: an answer
  // for a result already left must neither show nor keep its image.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route('**/api/analyses/1/files/saliency.png', async (route) => { await held; await route.continue(); });
  await page.goto('/#result/1');
  await expect(page.locator('#base-image')).toHaveJSProperty('complete', true);
  await expect.poll(() => page.evaluate(() => window.liveBlobs.size)).toBeGreaterThan(0);
  // Another result: the first one's images are let go.
  await page.goto('/#result/2');
  await expect(page.locator('#result-title')).toHaveText('Result of analysis 2');
  await expect(page.locator('#overlay-image')).toHaveAttribute('src', /^blob:/);
  const overlay = await page.locator('#overlay-image').getAttribute('src');
  release();
  await page.waitForResponse('**/api/analyses/1/files/saliency.png');
  await page.waitForTimeout(300);
  expect(await page.evaluate(() => window.liveBlobs.size)).toBe(2);
  await expect(page.locator('#overlay-image')).toHaveAttribute('src', overlay);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.locator('#who')).toHaveText('Signed out.');
  await expect(page.locator('#page-result')).toBeHidden();
  await expect(page.locator('#base-image')).not.toHaveAttribute('src');
  expect(await page.evaluate(() => window.liveBlobs.size)).toBe(0);
  expect(await page.evaluate(() => sessionStorage.getItem('medanchor-token'))).toBeNull();
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await expect(page.locator('#page-analyse')).toBeHidden();
});

test('a result named by anything but its number is refused without asking the server', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_AUDITOR);
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/analyses/')) asked.push(r.url()); });
  await page.goto('/#result/..%2Fme');
  await expect(page.locator('#result-error')).toHaveText(/No such analysis/);
  await page.goto('/#result/1e3');
  await expect(page.locator('#result-error')).toHaveText(/No such analysis/);
  expect(asked).toEqual([]);
});

test('a user removed while their page is open is signed out at the next request', async ({ page }) => {
  await signIn(page, process.env.MEDANCHOR_TOKEN_LEAVER);
  await page.getByRole('link', { name: 'Registry' }).click();
  await expect(page.locator('#page-registry')).toBeVisible();
  execFileSync(process.env.MEDANCHOR_BIN, ['users', 'remove', 'leaver', '--data', process.env.MEDANCHOR_DATA]);
  await page.getByRole('link', { name: 'Verify' }).click();
  await page.getByRole('link', { name: 'Registry' }).click();
  await expect(page.locator('#who')).toContainText('Signed out: ');
  await expect(page.locator('#page-registry')).toBeHidden();
  expect(await page.evaluate(() => sessionStorage.getItem('medanchor-token'))).toBeNull();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});
