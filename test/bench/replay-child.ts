import { replayDay } from '../../src/cli/replay.js';

/**
 * One replay in its own process, so that its peak RSS is its own: prints a JSON line with the
 * run's figures. Used by topologies.bench.ts. No topology files: the three standard ones.
 */
const [dayDir, outDir, ...topologies] = process.argv.slice(2);
if (!dayDir || !outDir) throw new Error('usage: replay-child <dayDir> <outDir> [topology files...]');
const r = await replayDay({ dayDir, outDir, topologies, progress: false, printDetection: false, latencySampleEvery: 64 });
const s = r.summary;
process.stdout.write(
  `${JSON.stringify({
    events: s.events.total,
    wallMs: s.wallMs,
    eventsPerSecond: s.eventsPerSecond,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    latencyUs: s.latencyUs,
    alerts: s.alerts.total,
    detection: s.detection?.totals,
  })}\n`,
);
