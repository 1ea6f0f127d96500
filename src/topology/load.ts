import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { LineCounter, isMap, isSeq, isPair, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { RiskflowError, TopologyError } from '../core/errors.js';
import { compileTopology, type LoadedTopology } from './compile.js';
import type { Locator } from './params.js';
import type { TopologySpec } from './schema.js';
import { TopologyValidationError } from './validate.js';
import { importModule, loadUdfs, UdfRegistry } from './udfs.js';
import { isPlainObject } from './util.js';

/** Options of {@link loadTopology}. */
export interface LoadOptions {
  /** `--set a.b=value` overrides of declared parameters. */
  set?: readonly string[];
  /** Directories whose modules define UDFs (default: the repo's udfs/). */
  udfDirs?: readonly string[];
  /** UDFs given directly (tests, embedding), in addition to those of `udfDirs`. */
  udfs?: UdfRegistry;
}

/**
 * The source-line finder of a parsed YAML document: for a path such as `['steps', 3, 'window',
 * 'size']` it returns the line of that key (or of the nearest ancestor that exists, so a missing
 * field points at its step).
 */
function yamlLocator(doc: ReturnType<typeof parseDocument>, lc: LineCounter): Locator {
  const lineAt = (offset: number | undefined): number | undefined => (offset === undefined ? undefined : lc.linePos(offset).line);
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineAt((node as YamlNode | null)?.range?.[0]);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return line;
        line = lineAt((pair.key as YamlNode).range?.[0]) ?? line;
        node = pair.value;
      } else if (isSeq(node) && /^\d+$/.test(String(seg))) {
        const item = node.items[Number(seg)] as YamlNode | undefined;
        if (!item) return line;
        line = lineAt(item.range?.[0]) ?? line;
        node = item;
      } else {
        return line;
      }
    }
    return line;
  };
}

/**
 * Parses a YAML topology text and compiles it (see {@link loadTopology}); `file` is the name used
 * in messages. YAML syntax errors are TopologyErrors with the line.
 *
 * @example
 * const t = await parseTopology('name: t\nsources: ...', { file: 'inline.yaml' });
 */
export async function parseTopology(text: string, opts: LoadOptions & { file?: string } = {}): Promise<LoadedTopology> {
  const file = opts.file ?? '<inline>';
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new TopologyValidationError(
      doc.errors.map(
        (e) =>
          new TopologyError(`YAML syntax: ${e.message.split('\n')[0]}`, {
            file,
            line: lc.linePos(e.pos[0]).line,
            cause: e,
          }),
      ),
    );
  }
  const spec = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const udfs = await udfsFor(opts);
  return compileTopology(spec, { file, set: opts.set, udfs, locate: yamlLocator(doc, lc) });
}

async function udfsFor(opts: LoadOptions): Promise<UdfRegistry> {
  const fromDirs = await loadUdfs(opts.udfDirs ?? undefined);
  return opts.udfs ? fromDirs.merged(opts.udfs) : fromDirs;
}

/**
 * Loads a topology file: YAML (`.yaml`/`.yml`), or a module (`.ts`, `.js`, `.mjs`) whose default
 * export is `defineTopology({...})`. Applies the `--set` overrides, loads the UDFs, validates
 * everything (all problems at once, as a {@link TopologyValidationError} naming file, line, step
 * and field) and returns the compiled topology. A `.ts` file is imported directly when the runtime
 * can (vitest), else its compiled `dist/<same path>.js` under the package root.
 *
 * @example
 * const t = await loadTopology('topologies/examples/market-watch.yaml', { set: ['drop.pct=0.07'] });
 * console.log(t.describe());
 */
export async function loadTopology(file: string, opts: LoadOptions = {}): Promise<LoadedTopology> {
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new TopologyError(`cannot read the topology: ${(e as Error).message}`, { file, cause: e });
    }
    return parseTopology(text, { ...opts, file });
  }
  if (!['.ts', '.mts', '.js', '.mjs'].includes(ext)) {
    throw new TopologyError(`unknown topology file type '${ext || '(none)'}': use .yaml, .yml, .ts, .js or .mjs`, { file });
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(resolve(file), 'topology');
  } catch (e) {
    if (e instanceof RiskflowError) throw e;
    throw new TopologyError(`cannot load the topology module: ${(e as Error).message}`, { file, cause: e });
  }
  const spec = mod.default;
  if (!isPlainObject(spec)) {
    throw new TopologyError('a topology module must `export default defineTopology({...})`', { file, field: 'default' });
  }
  const udfs = await udfsFor(opts);
  return compileTopology(spec as unknown as TopologySpec, { file, set: opts.set, udfs });
}
