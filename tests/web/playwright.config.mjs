// Playwright on Debian's chromium package (scripts/apt-packages.txt): nothing downloads a
// browser. Run by tests/http/serve_e2e_test.sh against a live `medanchor serve` on the local
// chain, which passes MEDANCHOR_URL and the tokens in the environment.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.mjs/,
  timeout: 120_000,
  workers: 1,
  reporter: [['list']],
  outputDir: process.env.MEDANCHOR_WEB_OUT || 'test-results',
  use: {
    baseURL: process.env.MEDANCHOR_URL,
    viewport: { width: 1100, height: 900 },
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
             '--disable-background-networking'],
    },
  },
});
