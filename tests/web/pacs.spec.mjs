// The web UI's PACS page (serve --listen-dicom) in a real browser against a real server whose
// listener received a series (tests/http/serve_listen_e2e_test.sh passes MEDANCHOR_PACS_SERIES,
// its de-identified UID, once the series is summarised and its SR sent): the page lists the
// series with the state, counts, worst finding and send the API gives; its row opens the detail,
// whose instances link to their results. Skipped where no listener runs (serve_e2e_test.sh).
// Screenshots go to MEDANCHOR_WEB_OUT. A second test keeps the page open while it sends a new
// series (MEDANCHOR_PACS_NEXT, a DICOM file, by DCMTK's storescu to MEDANCHOR_DICOM_PORT): the
// page shows it and follows it to Summarised by itself, without a reload.
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const out = process.env.MEDANCHOR_WEB_OUT || 'test-results';
const shot = (page, name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });
const series = process.env.MEDANCHOR_PACS_SERIES;
const token = process.env.MEDANCHOR_TOKEN_AUDITOR;
const next = process.env.MEDANCHOR_PACS_NEXT;
const dicomPort = process.env.MEDANCHOR_DICOM_PORT;

test.skip(!series, 'no DICOM listener in this run (MEDANCHOR_PACS_SERIES unset)');

test('the PACS page lists the received series and opens its detail', async ({ page, request }) => {
  const headers = { Authorization: `Bearer ${token}` };
  const api = await (await request.get(`/api/pacs/series/${series}`, { headers })).json();
  await page.goto('/');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).press('Enter');
  await expect(page.locator('#who')).toContainText('Signed in as');
  await page.getByRole('link', { name: 'PACS', exact: true }).click();
  await expect(page.locator('#pacs-title')).toBeVisible();

  const row = page.locator(`#pacs-table tbody tr[data-series="${series}"]`);
  await expect(row).toHaveCount(1);
  await expect(row.locator('td').nth(0)).toHaveText('Summarised');
  await expect(row.locator('td').nth(1)).toHaveText(
    `${api.instances.analysed} / ${api.instances.failed} / ${api.instances.received}`);
  await expect(row.locator('td').nth(2)).toHaveText(
    `${api.worst.finding}, ${(api.worst.confidence_bp / 100).toFixed(1)} %`);
  await expect(row.locator('td').nth(3)).toHaveText(`Sent to ${api.sends[0].destination}`);
  await expect(page.locator('#pacs-stats')).toContainText(`${api.instances.received} instances received`);
  // Everything on the page is text the API gave: no markup from it is ever interpreted.
  await expect(page.locator('#pacs-table tbody script')).toHaveCount(0);
  await shot(page, 'pacs');

  await row.getByRole('link').click();
  await expect(page.locator('#series-uid')).toHaveText(series);
  await expect(page.locator('#series-state')).toHaveText('Summarised');
  const rows = page.locator('#series-instances tbody tr');
  await expect(rows).toHaveCount(api.instance_list.length);
  for (const [i, inst] of api.instance_list.entries()) {
    await expect(rows.nth(i).locator('th')).toHaveText(inst.sop_uid);
    await expect(rows.nth(i).getByRole('link', { name: `Open result ${inst.analysis_id}` })).toBeVisible();
  }
  await expect(page.locator('#series-sends tbody tr').first().locator('th')).toHaveText(api.sends[0].destination);
  await shot(page, 'pacs-series');

  // A result from the series opens the usual result page.
  await rows.first().getByRole('link').click();
  await expect(page.locator('#result-title')).toHaveText(`Result of analysis ${api.instance_list[0].analysis_id}`);
});

test('the PACS page shows a new series by itself and follows it to Summarised', async ({ page, request }) => {
  test.skip(!next || !dicomPort, 'no series to send (MEDANCHOR_PACS_NEXT, MEDANCHOR_DICOM_PORT unset)');
  test.setTimeout(120_000);
  const headers = { Authorization: `Bearer ${token}` };
  const before = (await (await request.get('/api/pacs/series', { headers })).json()).series.map((s) => s.series_uid);
  await page.goto('/');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).press('Enter');
  await expect(page.locator('#who')).toContainText('Signed in as');
  await page.getByRole('link', { name: 'PACS', exact: true }).click();
  const rows = page.locator('#pacs-table tbody tr[data-series]');
  await expect(rows).toHaveCount(before.length);
  // Survives only if the page is never reloaded.
  await page.evaluate(() => { window.medanchorNotReloaded = true; });

  execFileSync('storescu', ['-aet', 'MODALITY', '-aec', 'MEDANCHOR', '127.0.0.1', dicomPort, next]);
  // Nothing was in progress when the page was read: the idle refresh (10 s) finds the new series.
  await expect(rows).toHaveCount(before.length + 1, { timeout: 30_000 });
  const uids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.series));
  const fresh = uids.filter((u) => !before.includes(u));
  expect(fresh).toHaveLength(1);
  const row = page.locator(`#pacs-table tbody tr[data-series="${fresh[0]}"]`);
  await expect(row.locator('td').nth(0)).toHaveText('Summarised', { timeout: 60_000 });
  await expect(row.locator('td').nth(1)).toHaveText('1 / 0 / 1');
  await expect(row.locator('td').nth(3)).toHaveText(/^Sent to /, { timeout: 30_000 });
  expect(await page.evaluate(() => window.medanchorNotReloaded)).toBe(true);
});
