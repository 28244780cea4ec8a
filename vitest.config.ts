import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string, entry = 'index') =>
  fileURLToPath(new URL(`./packages/${p}/src/${entry}.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@bulwark/core/adapter': src('core', 'adapter'),
      '@bulwark/core': src('core'),
      '@bulwark/express': src('express'),
      '@bulwark/koa': src('koa'),
      '@bulwark/nestjs': src('nestjs'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    coverage: {
      provider: 'v8',
      include: ['packages/core/src/**/*.ts'],
      exclude: ['**/*.test.ts', '**/*.test-d.ts'],
      thresholds: { lines: 90 },
      reporter: ['text-summary'],
    },
  },
});
