/**
 * Property: for any list of steps (sync or async, with or without undo, failing anywhere or
 * nowhere, with undos that fail), exactly the completed steps that have an undo are undone, in
 * reverse order, once each; every undo that failed is in the result and dead-lettered.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { CompensationManager } from './compensations.js';
import { createSaga, type SagaStep } from './saga.js';
import { FakeDeadLetters } from './saga.test-helper.js';

const stepArb = fc.record({
  async: fc.boolean(),
  hasUndo: fc.boolean(),
  undoFails: fc.boolean(),
  undoAsync: fc.boolean(),
});

it('undoes exactly the completed steps, in reverse, once each', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(stepArb, { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
      async (specs, failSeed) => {
        const failAt = failSeed === undefined ? -1 : failSeed % specs.length;
        const undone: number[] = [];
        const deadLetters = new FakeDeadLetters();
        const steps: SagaStep[] = specs.map((spec, i) => {
          const run = () => {
            if (i === failAt) throw new Error(`step ${i}`);
            return i;
          };
          const undo = () => {
            undone.push(i);
            if (spec.undoFails) throw new Error(`undo ${i}`);
          };
          return {
            name: `s${i}`,
            do: spec.async ? async () => run() : run,
            ...(spec.hasUndo ? { undo: spec.undoAsync ? async () => undo() : undo } : {}),
          };
        });
        const saga = createSaga('prop', steps, { retry: false, deadLetters });
        const r = await saga.run(undefined);
        const completed = failAt < 0 ? specs.length : failAt;
        const expected =
          failAt < 0
            ? []
            : specs
                .map((s, i) => ({ s, i }))
                .filter(({ s, i }) => i < completed && s.hasUndo)
                .map(({ i }) => i)
                .reverse();
        expect(undone).toEqual(expected);
        expect(r.completed).toEqual(specs.slice(0, completed).map((_, i) => `s${i}`));
        const failing = expected.filter((i) => specs[i]?.undoFails);
        expect(r.failed.map((f) => f.step)).toEqual(failing.map((i) => `s${i}`));
        expect(deadLetters.entries.map((e) => (e.payload as { step: string }).step)).toEqual(
          failing.map((i) => `s${i}`),
        );
        expect(r.compensated).toEqual(expected.filter((i) => !specs[i]?.undoFails).map((i) => `s${i}`));
        expect(r.status).toBe(failAt < 0 ? 'completed' : failing.length > 0 ? 'failed' : 'compensated');
        const stats = saga.stats();
        expect(stats).toMatchObject({ executed: expected.length, failed: failing.length, pending: 0 });
      },
    ),
    { numRuns: 300 },
  );
});

it('compensations: each registered fn runs once, last first, whatever fails', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ fails: fc.boolean(), async: fc.boolean() }), { maxLength: 10 }),
      async (specs) => {
        const m = new CompensationManager({ retry: false });
        const ran: number[] = [];
        for (const [i, s] of specs.entries()) {
          const fn = () => {
            ran.push(i);
            if (s.fails) throw new Error(String(i));
          };
          m.register('op', s.async ? async () => fn() : fn);
        }
        const [a, b] = await Promise.all([m.compensate('op'), m.compensate('op')]);
        expect(ran).toEqual(specs.map((_, i) => i).reverse());
        expect(a.failed).toHaveLength(specs.filter((s) => s.fails).length);
        expect(b.compensated).toEqual([]);
      },
    ),
    { numRuns: 200 },
  );
});
