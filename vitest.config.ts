/// <reference types="vitest" />
import { defineConfig } from "vitest/config";
import { getClarinetVitestsArgv, vitestSetupFilePath } from "@stacks/clarinet-sdk/vitest";

// Contract tests run on clarinet-sdk's simnet (the real Clarity VM). `vitest run -- --coverage
// --costs` writes lcov.info and costs-reports.json, which scripts/test.sh summarises.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "clarinet",
    pool: "forks",
    poolOptions: {
      forks: { singleFork: true },
    },
    setupFiles: [vitestSetupFilePath],
    environmentOptions: {
      clarinet: {
        ...getClarinetVitestsArgv(),
      },
    },
  },
});
