import { writeSync } from 'node:fs';

/**
 * Log lines to stdout, batched: lines written in one event-loop turn leave in one write instead of
 * one synchronous write each (stdout to a pipe or file is synchronous in Node). A batch leaves at
 * the latest on the next turn or at 64 KiB, and whatever is pending is written on exit, so nothing
 * logged before a crash or `process.exit` is lost.
 */
export function createStdoutLines(fd = 1): (line: string) => void {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    size = 0;
    let buffer = Buffer.from(text);
    while (buffer.length > 0) {
      try {
        buffer = buffer.subarray(writeSync(fd, buffer));
      } catch (error) {
        // A full non-blocking pipe: try again; anything else (closed stdout) drops the batch.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  };
  process.on('exit', flush);
  return (line) => {
    pending.push(line);
    size += line.length;
    if (size >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
