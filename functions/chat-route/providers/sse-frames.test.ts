/**
 * SseFrames holds at most one event's worth of an upstream that never ends its event (a cut at
 * MAX_EVENT_CHARS, a retryable 502), in time linear in what arrived: it had kept it all and re-scanned
 * the whole buffer on every chunk (12 MiB: ~6 s of blocked event loop).
 */
import { describe, expect, it } from 'vitest';
import { SseFrames } from './sse-frames.js';

describe('SseFrames under an endless event', () => {
  it('refuses an event larger than a bound instead of buffering it all, in time linear in its size', () => {
    const frames = new SseFrames();
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    frames.push(new TextEncoder().encode('event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"partial_json":"'));
    const started = performance.now();
    let refused: unknown;
    try {
      for (let i = 0; i < 768; i++) frames.push(chunk); // 12 MiB, never a blank line
    } catch (error) {
      refused = error;
    }
    const elapsedMs = performance.now() - started;
    expect({ refused: refused instanceof Error, buffered: frames.rest().length > 8 * 1024 * 1024 }).toEqual({
      refused: true,
      buffered: false,
    });
    expect(elapsedMs).toBeLessThan(500);
  }, 120_000);
});

describe('SseFrames, an event end split over single-byte pushes', () => {
  it('finds a CRLF event end whose four characters arrive one push each', () => {
    const frames = new SseFrames();
    const out: string[] = [];
    for (const char of 'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n') out.push(...frames.push(new TextEncoder().encode(char)));
    expect(out).toEqual(['{"a":1}', '{"b":2}']);
    expect(frames.rest()).toBe('');
  });
});
