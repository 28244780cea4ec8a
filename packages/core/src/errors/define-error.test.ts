import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { codeInfo, definedErrors, isKnownCode } from './app-codes.js';
import { BulwarkError, isInvalidConfigError } from './bulwark-error.js';
import { classify, countsAsFailure, isRetryable } from './classify.js';
import { ERROR_CODES } from './codes.js';
import { defineError } from './define-error.js';
import { toProblem } from './problem.js';

const prod = { production: true, instance: '/tenants/acme', correlationId: 'req-1' };
const dev = { ...prod, production: false };

const TenantExists = defineError({
  code: 'TENANT_EXISTS',
  status: 409,
  title: 'Tenant exists',
  suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
  command: 'tenant update --tenant-id <id>',
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

describe('defineError', () => {
  it('registers a code that BulwarkError knows: status, title, category, suggestion, command', () => {
    const e = new BulwarkError('TENANT_EXISTS', { message: "Tenant 'acme' already exists" });
    expect(e).toMatchObject({
      code: 'TENANT_EXISTS',
      status: 409,
      category: 'client',
      suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
      command: 'tenant update --tenant-id <id>',
      message: "Tenant 'acme' already exists",
    });
    expect(new BulwarkError('TENANT_EXISTS').message).toBe('Tenant exists');
    expect(codeInfo('TENANT_EXISTS').source).toBe('app');
    expect(isKnownCode('TENANT_EXISTS')).toBe(true);
    expect(definedErrors().map((d) => d.code)).toContain('TENANT_EXISTS');
  });

  it('returns a handle: create() overrides the command per occurrence, is() guards the code', () => {
    const e = TenantExists.create({ message: 'acme exists', command: 'tenant update --tenant-id acme' });
    expect(e).toBeInstanceOf(BulwarkError);
    expect(e.command).toBe('tenant update --tenant-id acme');
    expect(TenantExists.is(e)).toBe(true);
    expect(TenantExists.is(new BulwarkError('TIMEOUT'))).toBe(false);
    expect(TenantExists.is(Object.assign(new Error('x'), { code: 'TENANT_EXISTS' }))).toBe(false);
    expect(TenantExists).toMatchObject({ code: 'TENANT_EXISTS', status: 409, retryable: false });
    expect(Object.isFrozen(TenantExists)).toBe(true);
  });

  it('becomes a problem document like a Bulwark code, with its command', () => {
    const p = toProblem(TenantExists.create({ message: "Tenant 'acme' already exists" }), prod);
    expect(p).toEqual({
      type: 'tag:bulwark,2026:problems/tenant-exists',
      title: 'Tenant exists',
      status: 409,
      code: 'TENANT_EXISTS',
      detail: "Tenant 'acme' already exists",
      instance: '/tenants/acme',
      correlationId: 'req-1',
      suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
      command: 'tenant update --tenant-id <id>',
    });
    const typed = defineError({
      code: 'QUOTA_GONE',
      status: 403,
      title: 'Quota spent',
      suggestion: 'Buy more quota.',
      type: 'https://errors.example.com/quota-gone',
    });
    expect(toProblem(typed.create(), { ...prod, typeBase: 'https://x.example/' }).type).toBe(
      'https://errors.example.com/quota-gone',
    );
    expect(toProblem(TenantExists.create(), { ...prod, typeBase: 'https://x.example/p/' }).type).toBe(
      'https://x.example/p/tenant-exists',
    );
  });

  it('classifies: not retried unless the definition says so; a 4xx does not count against a breaker', () => {
    expect(isRetryable(TenantExists.create())).toBe(false);
    expect(countsAsFailure(TenantExists.create())).toBe(false);
    const Busy = defineError({
      code: 'TENANT_API_BUSY',
      status: 503,
      title: 'Tenant API busy',
      suggestion: 'Wait and retry.',
      retryable: true,
    });
    expect(classify(Busy.create())).toBe('transient');
    expect(isRetryable(Busy.create())).toBe(true);
    expect(countsAsFailure(Busy.create())).toBe(true);
    const slow = defineError({ code: 'SLOW_UPSTREAM', status: 408, title: 'Slow', suggestion: 'Retry.' });
    expect(slow.category).toBe('timeout');
    const custom = defineError({
      code: 'TENANT_LOCKED',
      status: 423,
      title: 'Locked',
      suggestion: 'Unlock it.',
      category: 'permanent',
    });
    expect(classify(custom.create())).toBe('permanent');
  });

  it('defining the same code again with the same content returns the same definition', () => {
    const again = defineError({
      code: 'TENANT_EXISTS',
      status: 409,
      title: 'Tenant exists',
      suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
      command: 'tenant update --tenant-id <id>',
    });
    expect(again.code).toBe('TENANT_EXISTS');
  });

  it('refuses a redefinition with different content, naming the code and the difference', () => {
    const e = thrown(() =>
      defineError({
        code: 'TENANT_EXISTS',
        status: 400,
        title: 'Tenant exists',
        suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
      }),
    );
    expect(isInvalidConfigError(e)).toBe(true);
    expect(e.message).toContain(
      "defineError(TENANT_EXISTS).status: expected 409, as 'TENANT_EXISTS' was first defined, got 400",
    );
    expect(codeInfo('TENANT_EXISTS').status).toBe(409);
  });

  it('validates every field at once, naming each', () => {
    const e = thrown(() =>
      defineError({
        code: 'tenant-exists',
        status: 200,
        title: '',
        suggestion: '  ',
        command: '',
        category: 'nope' as 'client',
        retryable: 'yes' as unknown as boolean,
        type: 'not a uri',
      }),
    );
    for (const part of [
      'defineError(tenant-exists).code: expected an UPPER_SNAKE_CASE code of 2 to 64 characters, got "tenant-exists"',
      '.status: expected an HTTP error status from 400 to 599, got 200',
      '.title: expected a non-empty string',
      '.suggestion: expected a non-empty string',
      '.command: expected a non-empty string, or nothing',
      '.category: expected one of transient, permanent',
      '.retryable: expected true or false, got "yes"',
      '.type: expected an absolute URI, got "not a uri"',
    ])
      expect(e.message).toContain(part);
    for (const status of [399, 600, 409.5, Number.NaN])
      expect(
        thrown(() => defineError({ code: 'BAD_STATUS', status, title: 't', suggestion: 's' })).message,
      ).toContain('expected an HTTP error status from 400 to 599');
    expect(isKnownCode('BAD_STATUS')).toBe(false);
  });

  it("refuses Bulwark's own codes and HTTP_ERROR", () => {
    for (const code of ['TIMEOUT', 'INTERNAL_ERROR', 'HTTP_ERROR'])
      expect(thrown(() => defineError({ code, status: 500, title: 't', suggestion: 's' })).message).toContain(
        `defineError(${code}).code: expected a code that is not one of Bulwark's own`,
      );
    expect(codeInfo('TIMEOUT').status).toBe(ERROR_CODES.TIMEOUT.status);
    expect(thrown(() => defineError(null as never)).message).toContain('defineError: expected an object');
  });

  it('is shared by two copies of the module in one process (a table on globalThis)', async () => {
    vi.resetModules();
    const path: string = './app-codes.js?copy';
    const copy = (await import(path)) as typeof import('./app-codes.js');
    expect(copy.codeInfo('TENANT_EXISTS').status).toBe(409);
  });

  it('types: any string is a code, the known ones complete', () => {
    expectTypeOf(new BulwarkError('TENANT_EXISTS').code).toEqualTypeOf<BulwarkError['code']>();
    expectTypeOf<'TIMEOUT'>().toMatchTypeOf<BulwarkError['code']>();
    expectTypeOf(TenantExists.create()).toEqualTypeOf<BulwarkError>();
  });
});

describe('an unknown code never crashes', () => {
  it('is a 500 internal error with the generic suggestion', () => {
    const e = new BulwarkError('SOME_UNKNOWN_CODE', { message: 'db password is hunter2' });
    expect(e).toMatchObject({
      code: 'SOME_UNKNOWN_CODE',
      status: 500,
      category: 'internal',
      suggestion: ERROR_CODES.INTERNAL_ERROR.suggestion,
      command: undefined,
    });
    expect(isRetryable(e)).toBe(false);
    expect(codeInfo('SOME_UNKNOWN_CODE').source).toBe('unknown');
    expect(() => new BulwarkError(undefined as never)).not.toThrow();
    expect(new BulwarkError(undefined as never).code).toBe('INTERNAL_ERROR');
  });

  it('is answered like an unknown error: nothing leaks in production, the message shows in development', () => {
    const e = new BulwarkError('SOME_UNKNOWN_CODE', { message: 'db password is hunter2' });
    const p = toProblem(e, prod);
    expect(p).toEqual({
      type: 'tag:bulwark,2026:problems/internal-error',
      title: 'Internal Server Error',
      status: 500,
      code: 'INTERNAL_ERROR',
      instance: '/tenants/acme',
      correlationId: 'req-1',
      suggestion: ERROR_CODES.INTERNAL_ERROR.suggestion,
    });
    expect(JSON.stringify(p)).not.toContain('hunter2');
    const d = toProblem(e, dev);
    expect(d.detail).toBe('db password is hunter2');
    expect(d.stack).toContain('define-error.test.ts');
  });
});
