#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * The `riskflow` command.
 *
 * The shebang gives V8 a 64 MB semi-space (young generation): a replay allocates a record object
 * per event, most of which die young, and with the default 16 MB the scavenger promotes and
 * rescans far more (README, Benchmarks: about 0.5 s of GC less on the 2.67M-event bench day from
 * Arrow, about 1 s from JSONL). A V8 heap flag cannot be set once the process runs, so it is on
 * the command line: `npm start` and `npm run bench` pass the same flag to `node`.
 *
 * CommonJS on purpose: it sizes libuv's thread pool before anything uses it, which an ES module
 * entry cannot do (Node reads ES modules through that pool, so the pool has started with its
 * default 4 threads before an ES entry's first line runs). The pool runs file I/O (checkpoint
 * writes with their fsync, snapshots) and the confluent client's consume and produce calls: with
 * 4 threads, a dozen Kafka tasks' checkpoint writes held back the consumer's fetches (README,
 * Benchmarks). A UV_THREADPOOL_SIZE set in the environment is kept.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';

void import('./main.js').then(({ main, reportError }) =>
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err);
    },
  ),
);
