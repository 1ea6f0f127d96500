import { printTable } from './harness.js';
import { runEngineBench } from './engine.bench.js';
import { runVarBench } from './var.bench.js';
import { runMarketBench } from './correlation.bench.js';
import { runSurveillanceBench } from './surveillance.bench.js';
import { runTopologiesBench, printTopologyRows } from './topologies.bench.js';
import { runDuckdbBench } from './duckdb.bench.js';

/**
 * `npm run bench`: prints the figures of every benchmark. BENCH_ONLY=engine,var,market,
 * surveillance,topologies,duckdb picks some (the Kafka benchmark is `npm run bench:kafka`); BENCH_EVENTS sizes the engine cases (default 5,000,000).
 */
const only = new Set((process.env.BENCH_ONLY ?? 'engine,var,market,surveillance,topologies,duckdb').split(','));
const n = Number(process.env.BENCH_EVENTS ?? 5_000_000);
console.log(`riskflow benchmarks: node ${process.version}, one core (the engine is single-threaded)`);
if (only.has('engine')) {
  console.log(`\nengine (issue 2): ${n.toLocaleString('en-US')} events per case, best of 3 after a warm-up`);
  printTable(runEngineBench(n));
}
if (only.has('var')) {
  console.log('\nVaR update per trade (issue 3)');
  printTable(runVarBench());
}
if (only.has('market')) {
  console.log('\nmarket-risk steps (issue 3)');
  printTable(runMarketBench());
}
if (only.has('surveillance')) {
  console.log('\nsurveillance steps (issue 3)');
  printTable(runSurveillanceBench());
}
if (only.has('topologies')) {
  console.log('\nthe three standard topologies on a generated day: 200 instruments, 500 traders, 6.5 h (issue 3)');
  printTopologyRows(await runTopologiesBench());
}
if (only.has('duckdb')) {
  console.log('\nArrow snapshots and DuckDB: 10 million positions rows (issue 4)');
  printTable(await runDuckdbBench());
}
