import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The Kafka integration suite (`npm run test:kafka`): real broker, child processes, minutes.
// Its files end in .kafka.ts so that the plain `npm test` (vitest's default *.test.ts) never runs them.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/kafka/**/*.kafka.ts'],
    setupFiles: ['test/kafka/setup.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
