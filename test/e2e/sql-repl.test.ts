import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DAY, MARKET_WATCH, ROOT, tempDir } from './helpers.js';
import { replayWithSnapshots, sqlCommand } from './sql-fixture.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
// capture-pane drops trailing blanks: an empty prompt reads 'riskflow>' on the screen.
// A server of our own (-L), so the test neither sees nor disturbs anyone else's tmux sessions.
const SOCKET = `rf-sql-${process.pid}`;
const SESSION = 'repl';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const alive = () => spawnSync('tmux', ['-L', SOCKET, 'has-session', '-t', SESSION]).status === 0;
/** Types text literally; `;` goes as a hex key, since tmux reads an argument ending in ';' as a command separator. */
function type(text: string): void {
  text.split(/(;)/).forEach((part) => {
    if (part === ';') tmux('send-keys', '-t', SESSION, '-H', '3b');
    else if (part) tmux('send-keys', '-t', SESSION, '-l', part);
  });
}
const key = (...keys: string[]) => tmux('send-keys', '-t', SESSION, ...keys);

/** Polls the screen (the only waiting this test does) until `test` holds, or fails after `ms`. */
async function waitFor(test: (s: string) => boolean, what: string, ms = 60_000): Promise<string> {
  const end = Date.now() + ms;
  let s = '';
  while (Date.now() < end) {
    s = alive() ? screen() : s;
    if (test(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`);
}

describe.skipIf(!hasTmux)('the riskflow sql prompt in a real terminal (tmux)', { timeout: 180_000 }, () => {
  let dir: string;
  let history: string;
  beforeAll(async () => {
    dir = await tempDir('rf-sql-repl-');
    await replayWithSnapshots(DEMO_DAY, dir, { extra: [MARKET_WATCH] });
    history = join(dir, 'history');
    const cmd = [process.execPath, ...(await sqlCommand()), '--snapshots', join(dir, 'snapshots'), '--timezone', 'America/New_York'];
    const quoted = cmd.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    tmux('new-session', '-d', '-s', SESSION, '-x', '200', '-y', '50', '-c', ROOT, `env NO_COLOR=1 RISKFLOW_SQL_HISTORY='${history}' ${quoted}`);
  }, 180_000);
  afterAll(() => {
    if (hasTmux) spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
  });

  it('prompts, runs a statement typed over two lines, prints an aligned table', async () => {
    const banner = await waitFor((s) => /^riskflow>$/m.test(s), 'the prompt');
    expect(banner).toMatch(/riskflow sql: 2 tables from .*\(alerts, positions\)/);
    type('SELECT trader_id, count(*) AS positions, round(sum(abs(notional)), 2) AS gross');
    key('Enter');
    await waitFor((s) => /^ {5}\.\.\.>$/m.test(s), 'the continuation prompt');
    type('FROM latest_positions GROUP BY trader_id ORDER BY gross DESC LIMIT 3;');
    key('Enter');
    const s = await waitFor((x) => /^\(3 rows\)$/m.test(x), 'the result');
    expect(s).toMatch(/^ trader_id \| positions \| +gross$/m);
    expect(s).toMatch(/^ varchar +\| +bigint \| +double$/m);
    // The demo day's biggest book at the end of the day (the fixture's numbers; see sql-snapshots.test.ts).
    expect(s).toMatch(/^ TR07 +\| +8 \| 1311779\.4$/m);
  });

  it('.tables, .schema and .format', async () => {
    key('C-l');
    type('.tables');
    key('Enter');
    let s = await waitFor((x) => /latest_positions +view/.test(x), '.tables');
    expect(s).toMatch(/^positions +table +[\d,]+ rows +9 columns$/m);
    type('.schema trader_risk_typo');
    key('Enter');
    s = await waitFor((x) => /no table or view named 'trader_risk_typo'/.test(x), '.schema of an unknown table');
    type('.schema positions');
    key('Enter');
    s = await waitFor((x) => /^ {2}snapshot_time +TIMESTAMP WITH TIME ZONE$/m.test(x), '.schema positions');
    expect(s).toMatch(/^ {2}qty +DOUBLE$/m);
    type('.format csv');
    key('Enter');
    type("SELECT type, entity->>'instrument' AS instrument FROM latest_alerts WHERE type = 'PRICE_DROP';");
    key('Enter');
    s = await waitFor((x) => /^PRICE_DROP,ACME$/m.test(x), 'a CSV result');
    expect(s).toMatch(/^type,instrument$/m);
    type('.format table');
    key('Enter');
  });

  it('Ctrl-C drops a half-typed statement; errors do not end the session; Up recalls history', async () => {
    key('C-l');
    type('SELECT oops');
    key('Enter');
    await waitFor((x) => /^ {5}\.\.\.>$/m.test(x), 'the continuation prompt');
    key('C-c');
    await waitFor((x) => /\^C\nriskflow>$/m.test(x), 'a fresh prompt after Ctrl-C');
    type("SELECT * FROM read_csv('/etc/passwd');");
    key('Enter');
    await waitFor((x) => /Error: Permission Error: .*disabled by configuration/.test(x), 'the permission error');
    type('SELECT 41 + 1 AS answer;');
    key('Enter');
    await waitFor((x) => /^ +42$/m.test(x), 'the answer');
    key('Up');
    await waitFor((x) => /riskflow> SELECT 41 \+ 1 AS answer;$/m.test(x), 'the recalled statement');
    key('C-u');
    type('.quit');
    key('Enter');
    await waitFor(() => !alive(), 'the session to end', 30_000);
    const lines = (await readFile(history, 'utf8')).trimEnd().split('\n');
    expect(lines).toContain('SELECT trader_id, count(*) AS positions, round(sum(abs(notional)), 2) AS gross FROM latest_positions GROUP BY trader_id ORDER BY gross DESC LIMIT 3;');
    expect(lines.slice(-2)).toEqual(['SELECT 41 + 1 AS answer;', '.quit']);
  });
});
