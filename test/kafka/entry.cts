// The `run` and `produce-day` commands as a standalone entry, so the Kafka tests and benchmarks
// can spawn them (and kill -9 them) as separate processes, whatever src/cli/main.ts wires.
// CommonJS, and the thread pool sized, as src/cli/bin.cts does for the riskflow command.
process.env.UV_THREADPOOL_SIZE ??= '16';

void (async () => {
  const { reportError } = await import('../../src/cli/main.js');
  const { cmdProduceDay } = await import('../../src/cli/produce-day.js');
  const { cmdRun } = await import('../../src/cli/run.js');
  const [cmd, ...rest] = process.argv.slice(2);
  const run = cmd === 'run' ? cmdRun(rest) : cmd === 'produce-day' ? cmdProduceDay(rest) : Promise.reject(new Error(`unknown command ${cmd}`));
  run.then(
    (code) => process.exit(code),
    (err: unknown) => process.exit(reportError(err)),
  );
})();
