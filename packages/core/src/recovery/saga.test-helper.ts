/** Fakes the saga and compensation tests share: a dead-letter sink and an event recorder. */
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import type { DeadLetterInput, DeadLetterSink } from './unwind.js';

/** A dead-letter sink that keeps what it got; `fail` makes the next adds reject. */
export class FakeDeadLetters implements DeadLetterSink {
  readonly entries: (DeadLetterInput & { id: string })[] = [];
  fail = 0;

  async add(entry: DeadLetterInput): Promise<string> {
    if (this.fail > 0) {
      this.fail--;
      throw new Error('dead-letter store down');
    }
    const id = `dl-${this.entries.length + 1}`;
    this.entries.push({ ...entry, id });
    return id;
  }
}

/** An event stream that records every event. */
export function recordingEvents(): { events: EventStream; seen: BulwarkEvent[]; types: () => string[] } {
  const events = new EventStream();
  const seen: BulwarkEvent[] = [];
  events.onAny((e) => seen.push(e));
  return { events, seen, types: () => seen.map((e) => e.type) };
}
