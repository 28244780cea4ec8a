/**
 * Bounded reads of a downstream response body: never more than a cap, whatever the
 * Content-Length says (or does not say), and the rest of the body is cancelled.
 */

/** Default cap on a downstream error body read, in bytes (64 KiB). */
export const DEFAULT_MAX_ERROR_BODY_BYTES = 64 * 1024;

/** A body read up to a cap. */
export interface BoundedBody {
  /** The body as UTF-8 text, or undefined when it was larger than the cap (or unreadable). */
  text: string | undefined;
  /** True when the body was larger than the cap. */
  tooLarge: boolean;
}

function cancel(body: ReadableStream<Uint8Array> | null | undefined): void {
  body?.cancel().catch(() => {});
}

/** Reads at most `maxBytes` of `response`'s body as text; a larger body is cancelled and reported as too large. */
export async function readBounded(
  response: Response,
  maxBytes: number = DEFAULT_MAX_ERROR_BODY_BYTES,
): Promise<BoundedBody> {
  const body = response.body;
  if (body === null) return { text: '', tooLarge: false };
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    cancel(body);
    return { text: undefined, tooLarge: true };
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        return { text: undefined, tooLarge: true };
      }
      chunks.push(value);
    }
  } catch {
    reader.cancel().catch(() => {});
    return { text: undefined, tooLarge: false };
  } finally {
    reader.releaseLock();
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), tooLarge: false };
}

/** Discards a response body without reading it, so the connection can be reused or closed. */
export function discardBody(response: Response): void {
  if (!response.bodyUsed) cancel(response.body);
}
