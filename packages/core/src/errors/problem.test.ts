import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BulkheadFullError, BulwarkError, DeadlineExceededError, RateLimitedError } from './bulwark-error.js';
import { ERROR_CODES } from './codes.js';
import {
  ABOUT_BLANK,
  DEFAULT_PROBLEM_TYPE_BASE,
  HTTP_ERROR_SUGGESTIONS,
  isAbsoluteUri,
  problemSlug,
  toProblem,
} from './problem.js';

const prod = { production: true, instance: '/orders/1', correlationId: 'req-1' };
const dev = { ...prod, production: false };

/** NestJS HttpException look-alike. */
class FakeHttpException extends Error {
  constructor(
    private readonly response: unknown,
    private readonly statusCode: number,
  ) {
    super(typeof response === 'string' ? response : 'Http Exception');
  }
  getStatus() {
    return this.statusCode;
  }
  getResponse() {
    return this.response;
  }
}

/** http-errors look-alike (Koa ctx.throw, body-parser). */
function httpError(status: number, message: string, expose = status < 500) {
  return Object.assign(new Error(message), { status, statusCode: status, expose });
}

describe('problemSlug', () => {
  it('kebab-cases codes', () => {
    expect(problemSlug('BULKHEAD_FULL')).toBe('bulkhead-full');
    expect(problemSlug('RETRY_BUDGET_EXHAUSTED')).toBe('retry-budget-exhausted');
  });
});

describe('toProblem: Bulwark errors', () => {
  it('keeps status, code, title, suggestion, retryAfter in seconds and the message as detail', () => {
    const p = toProblem(
      new BulkheadFullError({ message: 'Bulkhead "GET /x" is full', retryAfterMs: 1500 }),
      prod,
    );
    expect(p).toEqual({
      type: `${DEFAULT_PROBLEM_TYPE_BASE}bulkhead-full`,
      title: ERROR_CODES.BULKHEAD_FULL.title,
      status: 503,
      code: 'BULKHEAD_FULL',
      detail: 'Bulkhead "GET /x" is full',
      instance: '/orders/1',
      correlationId: 'req-1',
      suggestion: ERROR_CODES.BULKHEAD_FULL.suggestion,
      retryAfter: 2,
    });
  });

  it('omits retryAfter when the error has none, and uses overrides of status and suggestion', () => {
    const p = toProblem(new BulwarkError('DOWNSTREAM_ERROR', { status: 503, suggestion: 'Call ops.' }), prod);
    expect(p.status).toBe(503);
    expect(p.suggestion).toBe('Call ops.');
    expect(p).not.toHaveProperty('retryAfter');
    expect(p.detail).toBe(ERROR_CODES.DOWNSTREAM_ERROR.title);
  });

  it('honours typeBase and leaves out instance/correlationId when not given', () => {
    const p = toProblem(new DeadlineExceededError(), { production: true, typeBase: 'https://x.test/p/' });
    expect(p.type).toBe('https://x.test/p/deadline-exceeded');
    expect(p.status).toBe(504);
    expect(p).not.toHaveProperty('instance');
    expect(p).not.toHaveProperty('correlationId');
  });

  it('never adds a stack to Bulwark errors, even in development', () => {
    expect(toProblem(new RateLimitedError(), dev)).not.toHaveProperty('stack');
  });
});

describe('toProblem: application HTTP errors', () => {
  it('keeps a NestJS-style 4xx status and message', () => {
    const p = toProblem(new FakeHttpException('Order 1 not found', 404), prod);
    expect(p).toMatchObject({
      type: ABOUT_BLANK,
      title: 'Not Found',
      status: 404,
      code: 'HTTP_ERROR',
      detail: 'Order 1 not found',
      suggestion: HTTP_ERROR_SUGGESTIONS.client,
      instance: '/orders/1',
      correlationId: 'req-1',
    });
    expect(p).not.toHaveProperty('stack');
  });

  it('copies bounded validation messages of a BadRequestException as { detail, pointer } entries', () => {
    const many = Array.from({ length: 80 }, (_, i) => `field${i} is bad`);
    const p = toProblem(
      new FakeHttpException({ statusCode: 400, message: [...many, 7], error: 'Bad Request' }, 400),
      prod,
    );
    expect(p.status).toBe(400);
    expect(p.errors).toHaveLength(50);
    expect(p.errors?.[0]).toEqual({ detail: 'field0 is bad', pointer: '#/field0' });
  });

  it('derives JSON Pointers from class-validator paths, # when there is none, and keeps given pointers', () => {
    const p = toProblem(
      new FakeHttpException(
        {
          message: [
            'address.city must be a string',
            'Something is off with the whole body',
            'a/b~c should not be empty',
            { detail: 'too young', pointer: '#/age' },
            { message: 'bad tag', property: 'tags.0' },
            { pointer: '#/no-detail' },
          ],
        },
        400,
      ),
      prod,
    );
    expect(p.errors).toEqual([
      { detail: 'address.city must be a string', pointer: '#/address/city' },
      { detail: 'Something is off with the whole body', pointer: '#' },
      { detail: 'a/b~c should not be empty', pointer: '#' },
      { detail: 'too young', pointer: '#/age' },
      { detail: 'bad tag', pointer: '#/tags/0' },
    ]);
  });

  it('hides the message of a NestJS 5xx in production, shows it with a stack in development', () => {
    const e = new FakeHttpException('upstream db at 10.0.0.5 down', 503);
    const p = toProblem(e, prod);
    expect(p.status).toBe(503);
    expect(p.title).toBe('Service Unavailable');
    expect(p.suggestion).toBe(HTTP_ERROR_SUGGESTIONS.server);
    expect(p).not.toHaveProperty('detail');
    expect(p).not.toHaveProperty('stack');
    const d = toProblem(e, dev);
    expect(d.detail).toBe('upstream db at 10.0.0.5 down');
    expect(d.stack).toContain('upstream db');
  });

  it('keeps http-errors status and the message when exposed', () => {
    const p = toProblem(httpError(413, 'request entity too large'), prod);
    expect(p).toMatchObject({ status: 413, code: 'HTTP_ERROR', detail: 'request entity too large' });
  });

  it('hides an unexposed http-errors message in production', () => {
    const p = toProblem(httpError(500, 'secret'), prod);
    expect(p.status).toBe(500);
    expect(p.code).toBe('HTTP_ERROR');
    expect(p).not.toHaveProperty('detail');
    const hidden = toProblem(httpError(400, 'hidden by choice', false), prod);
    expect(hidden).toMatchObject({ status: 400, title: 'Bad Request', detail: 'Bad Request' });
    expect(JSON.stringify(hidden)).not.toContain('by choice');
    expect(toProblem(httpError(503, 'shown by choice', true), prod).detail).toBe('shown by choice');
  });

  it('clips very long application messages', () => {
    const p = toProblem(httpError(400, 'x'.repeat(5000)), prod);
    expect((p.detail as string).length).toBeLessThanOrEqual(1025);
  });

  it("keeps a client status from any library, hiding its message (issue 8 item 14: Express's URIError)", () => {
    // What Express's router raises for /orders/%E0%A4%A.
    const uriError = Object.assign(new URIError("Failed to decode param '%E0%A4%A'"), { status: 400 });
    const p = toProblem(uriError, prod);
    expect(p).toMatchObject({
      type: ABOUT_BLANK,
      title: 'Bad Request',
      status: 400,
      code: 'HTTP_ERROR',
      detail: 'Bad Request',
      suggestion: HTTP_ERROR_SUGGESTIONS.client,
    });
    expect(JSON.stringify(p)).not.toContain('decode');
    expect(toProblem({ statusCode: 404, message: 'x' }, prod)).toMatchObject({
      status: 404,
      title: 'Not Found',
    });
    expect(toProblem(uriError, dev).detail).toContain('Failed to decode');
  });

  it('treats a bare 5xx status without expose (a downstream client error) as unknown', () => {
    const axiosLike = Object.assign(new Error('Request failed with status code 503'), { status: 503 });
    const p = toProblem(axiosLike, prod);
    expect(p.status).toBe(500);
    expect(p.code).toBe('INTERNAL_ERROR');
    expect(p).not.toHaveProperty('detail');
  });

  it.each([
    ['a status out of range', new FakeHttpException('moved', 302)],
    [
      'a getStatus that throws',
      Object.assign(new Error('x'), {
        getStatus: () => {
          throw new Error('no');
        },
      }),
    ],
    [
      'an http-errors status that is not a number',
      Object.assign(new Error('x'), { status: '404', expose: true }),
    ],
  ])('treats %s as unknown', (_n, e) => {
    expect(toProblem(e, prod)).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
  });
});

describe('toProblem: unknown errors', () => {
  const secret = new Error('db password is hunter2');

  it('leaks no message or stack in production', () => {
    const p = toProblem(secret, prod);
    expect(p).toEqual({
      type: `${DEFAULT_PROBLEM_TYPE_BASE}internal-error`,
      title: 'Internal Server Error',
      status: 500,
      code: 'INTERNAL_ERROR',
      instance: '/orders/1',
      correlationId: 'req-1',
      suggestion: ERROR_CODES.INTERNAL_ERROR.suggestion,
    });
    expect(JSON.stringify(p)).not.toContain('hunter2');
  });

  it('keeps message and stack in development', () => {
    const p = toProblem(secret, dev);
    expect(p.detail).toBe('db password is hunter2');
    expect(p.stack).toContain('db password is hunter2');
  });

  it('handles thrown non-errors', () => {
    expect(toProblem('plain string', dev).detail).toBe('plain string');
    expect(toProblem(undefined, dev).detail).toBe('undefined');
    expect(toProblem(null, prod)).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
    const weird = {
      toString: () => {
        throw new Error('nope');
      },
    };
    expect(toProblem(weird, dev).detail).toBe('Unprintable error');
  });
});

describe('toProblem: RFC 9457 types and instance', () => {
  it('gives plain HTTP errors about:blank with the status phrase, whatever the status', () => {
    for (const status of [400, 404, 413, 503]) {
      const p = toProblem(httpError(status, 'm', true), prod);
      expect(p.type).toBe('about:blank');
      expect(p.title).toBe(STATUS_CODES[status]);
    }
  });

  it('gives every Bulwark code its own type with one title, under a tag: URI by default', () => {
    expect(DEFAULT_PROBLEM_TYPE_BASE.startsWith('tag:')).toBe(true);
    const seen = new Map<string, string>();
    for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
      const p = toProblem(new BulwarkError(code, { message: 'a detail that varies' }), prod);
      expect(isAbsoluteUri(p.type)).toBe(true);
      expect(p.title).toBe(ERROR_CODES[code].title);
      expect(seen.has(p.type)).toBe(false);
      seen.set(p.type, p.title);
    }
    expect(toProblem(new Error('x'), prod).type).toBe(`${DEFAULT_PROBLEM_TYPE_BASE}internal-error`);
  });

  it('percent-encodes the instance (issue 9: raw {}|^` were echoed)', () => {
    const p = toProblem(new Error('x'), { production: true, instance: '/a b/{x}|^`"<>[]#?q=1&z' });
    expect(p.instance).toBe('/a%20b/%7Bx%7D%7C%5E%60%22%3C%3E%5B%5D%23?q=1&z');
  });

  it('cuts a long instance without splitting an escape', () => {
    const p = toProblem(new Error('x'), { production: true, instance: `/${'é'.repeat(2000)}` });
    const instance = p.instance as string;
    expect(instance.length).toBeLessThanOrEqual(1024);
    expect(() => decodeURIComponent(instance)).not.toThrow();
  });
});
