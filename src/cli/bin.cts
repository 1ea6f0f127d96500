#!/usr/bin/env node
/**
 * The `riskflow` command.
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
