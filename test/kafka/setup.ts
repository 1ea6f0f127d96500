// The Kafka suite's setup file: when a test fails (a timeout included), print what each riskflow
// process it started wrote to stderr (the tail), and kill those still running, so that a hang
// says where it was and does not outlive its test.
import { afterEach, beforeEach } from 'vitest';
import { takeStarted } from './harness.js';

beforeEach(() => {
  takeStarted();
});

afterEach((ctx) => {
  const procs = takeStarted();
  const failed = ctx.task.result?.state === 'fail';
  for (const { args, p } of procs) {
    const running = p.proc.exitCode === null && p.proc.signalCode === null;
    if (failed) {
      const err = p.stderr();
      const tail = err.length > 6000 ? `...${err.slice(-6000)}` : err;
      console.error(
        `--- riskflow ${args.slice(0, 2).join(' ')} ... (pid ${p.proc.pid}, ${running ? 'still running: killed' : `exited ${p.proc.exitCode ?? p.proc.signalCode}`}); stderr:\n${tail}`,
      );
    }
    if (running) p.proc.kill('SIGKILL');
  }
});
