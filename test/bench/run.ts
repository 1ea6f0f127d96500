import { printTable } from './harness.js';
import { runEngineBench } from './engine.bench.js';

/**
 * `npm run bench`: prints events/s of the engine beside hand-written loops. Size with
 * BENCH_EVENTS (default 5,000,000).
 */
const n = Number(process.env.BENCH_EVENTS ?? 5_000_000);
console.log(`riskflow benchmarks: node ${process.version}, ${n.toLocaleString('en-US')} events per case, best of 3 after a warm-up`);
console.log('\nengine (issue 2)');
printTable(runEngineBench(n));
