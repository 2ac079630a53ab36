import { defineConfig } from "vitest/config";

// `npm run test:media`: WebRTC ↔ PSTN through rtpengine, with headless Chromium running /phone,
// sipp gateways that echo or stream RTP, and the real rtpengine daemon. Heavier than `npm test`
// (which it does not slow down); .ci/run runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "media",
          include: ["test/media/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
