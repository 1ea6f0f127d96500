// The `run` and `produce-day` commands as a standalone entry, so the Kafka tests and benchmarks
// can spawn them (and kill -9 them) as separate processes, whatever src/cli/main.ts wires.
import { reportError } from '../../src/cli/main.js';
import { cmdProduceDay } from '../../src/cli/produce-day.js';
import { cmdRun } from '../../src/cli/run.js';

const [cmd, ...rest] = process.argv.slice(2);
const run = cmd === 'run' ? cmdRun(rest) : cmd === 'produce-day' ? cmdProduceDay(rest) : Promise.reject(new Error(`unknown command ${cmd}`));
run.then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(reportError(err)),
);
