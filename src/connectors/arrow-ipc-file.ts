/**
 * A writer of Arrow IPC *files* (one record batch, Utf8 dictionaries) that produces exactly the
 * bytes of apache-arrow's `tableToIPC(table, 'file')`, without its per-file cost (Data and Vector
 * objects, visitors, and above all a flatbuffer builder run for the schema, each message and the
 * footer of every file).
 *
 * The file layout (apache-arrow's RecordBatchFileWriter): `ARROW1\0\0`; per dictionary column, in
 * column order, a DictionaryBatch message then its body; the RecordBatch message then its body;
 * the end-of-stream marker `FFFFFFFF 00000000`; the Footer flatbuffer (schema and the blocks:
 * offset, metadata length and body length of every message); its length (int32); `ARROW1`. A
 * message is `FFFFFFFF`, the metadata length, the Message flatbuffer, zeros to a multiple of 8.
 * A body is the buffers of every column (validity bitmap, then values / offsets / data), each
 * followed by zeros to a multiple of 8; a buffer's region in the message has the padded length.
 *
 * The flatbuffers of a table's files differ only in numbers that sit at fixed places: struct
 * fields (field nodes, buffer regions, footer blocks), which flatbuffers always writes, and the
 * scalars `RecordBatch.length` and `Message.bodyLength` of the record batch and of each dictionary
 * batch, which it leaves out when they are 0. So, for a schema and a shape ({@link ipcShape}:
 * which of those scalars are 0), the metadata bytes are a constant template with numeric slots. {@link IpcFileTemplates} makes each template from a file
 * that apache-arrow wrote (of a few rows of the first batch of its shape), finds the slots by
 * reading the flatbuffers, and trusts it only if re-encoding those rows from the template gives
 * apache-arrow's bytes exactly; otherwise that shape stays with apache-arrow.
 */

/**
 * One column of a record batch as the buffers apache-arrow's VectorAssembler writes for it.
 *
 * @example
 * const c: IpcColumn = { length: 2, nullCount: 0, validity: undefined, buffers: [Float64Array.of(1, 2)], dictionary: undefined };
 */
export interface IpcColumn {
  length: number;
  nullCount: number;
  /** The validity bitmap (bit set = valid) when `nullCount > 0`; undefined writes an empty buffer. */
  validity: Uint8Array | undefined;
  /**
   * The buffers after the validity bitmap, each exactly the bytes apache-arrow writes: one for a
   * fixed-width column (values, Bool bits, dictionary codes), two for Utf8 (offsets, data).
   */
  buffers: ArrayBufferView[];
  /** For a dictionary-encoded column: its Utf8 dictionary (written as a DictionaryBatch). */
  dictionary: IpcUtf8Dictionary | undefined;
}

/**
 * The values of a Utf8 dictionary: `length` strings, as int32 offsets (`length + 1`) and UTF-8 data.
 *
 * @example const d: IpcUtf8Dictionary = { length: 1, offsets: Int32Array.of(0, 4), data: Buffer.from('ACME') };
 */
export interface IpcUtf8Dictionary {
  length: number;
  offsets: Int32Array;
  data: Uint8Array;
}

/** Where the numbers of one message template are (byte offsets from the message's start; -1: field left out). */
interface MessageTemplate {
  /** The message: continuation marker, metadata length, Message flatbuffer, padding. */
  meta: Uint8Array;
  bodyLengthAt: number;
  lengthAt: number;
  nodesAt: number;
  buffersAt: number;
}

/** The templates of every message and the footer of one (schema, shape). */
interface FileTemplate {
  dictionaries: MessageTemplate[];
  batch: MessageTemplate;
  /** End-of-stream marker, Footer flatbuffer, its length and the closing magic. */
  footer: Uint8Array;
  /** Offsets from the footer's start of the first dictionary block and of the record batch block. */
  dictionaryBlocksAt: number;
  batchBlockAt: number;
}

const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // 'ARROW1'
/** Message header types (Arrow's MessageHeader enum). */
const HEADER_DICTIONARY_BATCH = 2;
const HEADER_RECORD_BATCH = 3;

const align8 = (n: number): number => (n + 7) & ~7;

function bytesOf(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Body length of a column's buffers in the record batch (each padded to 8 bytes). */
function columnBodyLength(c: IpcColumn): number {
  let n = c.validity ? align8(c.validity.byteLength) : 0;
  for (const b of c.buffers) n += align8(b.byteLength);
  return n;
}

function dictionaryBodyLength(d: IpcUtf8Dictionary): number {
  return align8(d.offsets.byteLength) + align8(d.data.byteLength);
}

/**
 * What decides the layout of a file's flatbuffers beyond the schema: for the record batch and
 * each dictionary (in column order), whether its row count and its body length are 0 (flatbuffers
 * leaves a scalar out when it equals its default, 0). One character per flag.
 *
 * @example ipcShape(0, [{ length: 0, nullCount: 0, validity: undefined, buffers: [new Float64Array(0)], dictionary: undefined }]) // '11'
 */
export function ipcShape(numRows: number, columns: readonly IpcColumn[]): string {
  let body = 0;
  let s = '';
  for (const c of columns) {
    body += columnBodyLength(c);
    if (c.dictionary) s += (c.dictionary.length === 0 ? '1' : '0') + (dictionaryBodyLength(c.dictionary) === 0 ? '1' : '0');
  }
  return (numRows === 0 ? '1' : '0') + (body === 0 ? '1' : '0') + s;
}

/** Writes a non-negative integer below 2^53 as a little-endian int64. */
function setInt64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v % 0x1_0000_0000, true);
  view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000), true);
}

/**
 * Where a file is written: `size` zeroed bytes (the padding is left as it is found).
 *
 * @example const alloc: IpcAlloc = (size) => new Uint8Array(size);
 */
export type IpcAlloc = (size: number) => Uint8Array;

const freshBytes: IpcAlloc = (size) => new Uint8Array(size);

/**
 * Encodes a file from a template into `alloc(size)`: the metadata bytes copied and their numbers
 * set, the bodies written buffer by buffer.
 */
function encodeWith(t: FileTemplate, numRows: number, columns: readonly IpcColumn[], alloc: IpcAlloc): Uint8Array {
  let size = 8 + t.footer.byteLength;
  let k = 0;
  let batchBody = 0;
  for (const c of columns) {
    batchBody += columnBodyLength(c);
    if (c.dictionary) size += t.dictionaries[k++]!.meta.byteLength + dictionaryBodyLength(c.dictionary);
  }
  size += t.batch.meta.byteLength + batchBody;
  const out = alloc(size);
  const view = new DataView(out.buffer, out.byteOffset, size);
  out.set(MAGIC, 0);
  let pos = 8;
  // Blocks of the footer, set once every message's place is known.
  const blocks: number[] = [];
  k = 0;
  for (const c of columns) {
    const d = c.dictionary;
    if (!d) continue;
    const m = t.dictionaries[k++]!;
    const body = dictionaryBodyLength(d);
    blocks.push(pos, m.meta.byteLength, body);
    writeMessage(out, view, pos, m, d.length, body);
    setInt64(view, pos + m.nodesAt, d.length);
    setInt64(view, pos + m.nodesAt + 8, 0);
    let at = pos + m.meta.byteLength;
    let region = 0;
    const regions = pos + m.buffersAt;
    // Validity: empty (a dictionary has no nulls).
    setInt64(view, regions, 0);
    setInt64(view, regions + 8, 0);
    for (let j = 0; j < 2; j++) {
      const b = j === 0 ? bytesOf(d.offsets) : d.data;
      const len = align8(b.byteLength);
      setInt64(view, regions + 16 + 16 * j, region);
      setInt64(view, regions + 24 + 16 * j, len);
      out.set(b, at);
      at += len;
      region += len;
    }
    pos = at;
  }
  const m = t.batch;
  blocks.push(pos, m.meta.byteLength, batchBody);
  writeMessage(out, view, pos, m, numRows, batchBody);
  let at = pos + m.meta.byteLength;
  let region = 0;
  let node = pos + m.nodesAt;
  let slot = pos + m.buffersAt;
  for (const c of columns) {
    setInt64(view, node, c.length);
    setInt64(view, node + 8, c.nullCount);
    node += 16;
    const validity = c.validity;
    const vlen = validity ? align8(validity.byteLength) : 0;
    setInt64(view, slot, region);
    setInt64(view, slot + 8, vlen);
    slot += 16;
    if (validity) out.set(validity, at);
    at += vlen;
    region += vlen;
    for (const buf of c.buffers) {
      const len = align8(buf.byteLength);
      setInt64(view, slot, region);
      setInt64(view, slot + 8, len);
      slot += 16;
      out.set(bytesOf(buf), at);
      at += len;
      region += len;
    }
  }
  pos = at;
  out.set(t.footer, pos);
  for (let i = 0; i < blocks.length; i += 3) {
    const b = pos + (i === blocks.length - 3 ? t.batchBlockAt : t.dictionaryBlocksAt + 8 * i);
    setInt64(view, b, blocks[i]!);
    view.setInt32(b + 8, blocks[i + 1]!, true);
    setInt64(view, b + 16, blocks[i + 2]!);
  }
  return out;
}

function writeMessage(out: Uint8Array, view: DataView, pos: number, m: MessageTemplate, length: number, body: number): void {
  out.set(m.meta, pos);
  if (m.lengthAt >= 0) setInt64(view, pos + m.lengthAt, length);
  if (m.bodyLengthAt >= 0) setInt64(view, pos + m.bodyLengthAt, body);
}

/** A reader of the few flatbuffer tables the templates need (little-endian, offsets relative). */
class FlatReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  int32(at: number): number {
    return this.view.getInt32(at, true);
  }
  /** The root table of the flatbuffer starting at `at`. */
  root(at: number): number {
    return at + this.view.getUint32(at, true);
  }
  /** Where field `slot` of the table at `table` is, or -1 when it is left out. */
  field(table: number, slot: number): number {
    const vtable = table - this.view.getInt32(table, true);
    const vsize = this.view.getUint16(vtable, true);
    const off = 4 + 2 * slot < vsize ? this.view.getUint16(vtable + 4 + 2 * slot, true) : 0;
    return off === 0 ? -1 : table + off;
  }
  /** The table or vector an offset field points to (-1 when the field is left out). */
  deref(field: number): number {
    return field < 0 ? -1 : field + this.view.getUint32(field, true);
  }
  /** A vector's element count (its start is 4 bytes after the count). */
  count(vector: number): number {
    return this.view.getUint32(vector, true);
  }
  int64(field: number): number {
    return field < 0 ? 0 : Number(this.view.getBigInt64(field, true));
  }
  uint8(field: number): number {
    return field < 0 ? 0 : this.bytes[field]!;
  }
}

/**
 * Reads the message at `pos` of an apache-arrow file as a template: its RecordBatch must have
 * `nodes` field nodes and `buffers` buffers, no compression and no variadic counts.
 */
function messageTemplate(r: FlatReader, pos: number, headerType: number, nodes: number, buffers: number): { m: MessageTemplate; next: number } | undefined {
  if (r.int32(pos) !== -1) return undefined;
  const metaLength = 8 + r.int32(pos + 4);
  const msg = r.root(pos + 8);
  if (r.uint8(r.field(msg, 1)) !== headerType) return undefined;
  let header = r.deref(r.field(msg, 2));
  if (header < 0 || r.field(msg, 4) >= 0) return undefined;
  if (headerType === HEADER_DICTIONARY_BATCH) {
    // A DictionaryBatch holds its values as a RecordBatch (field 1); isDelta (2) must be false.
    if (r.uint8(r.field(header, 2)) !== 0) return undefined;
    header = r.deref(r.field(header, 1));
    if (header < 0) return undefined;
  }
  const nodesVec = r.deref(r.field(header, 1));
  const buffersVec = r.deref(r.field(header, 2));
  if (nodesVec < 0 || buffersVec < 0 || r.count(nodesVec) !== nodes || r.count(buffersVec) !== buffers) return undefined;
  if (r.field(header, 3) >= 0 || r.field(header, 4) >= 0) return undefined;
  const bodyLengthField = r.field(msg, 3);
  const lengthField = r.field(header, 0);
  const m: MessageTemplate = {
    meta: r.bytes.slice(pos, pos + metaLength),
    bodyLengthAt: bodyLengthField < 0 ? -1 : bodyLengthField - pos,
    lengthAt: lengthField < 0 ? -1 : lengthField - pos,
    nodesAt: nodesVec + 4 - pos,
    buffersAt: buffersVec + 4 - pos,
  };
  return { m, next: pos + metaLength + r.int64(bodyLengthField) };
}

/** The template of a file apache-arrow wrote for `columns`, or undefined if its layout is not the expected one. */
function fileTemplate(file: Uint8Array, columns: readonly IpcColumn[]): FileTemplate | undefined {
  const r = new FlatReader(file);
  const n = file.byteLength;
  if (n < 8 + 8 + 4 + 6) return undefined;
  for (let i = 0; i < 6; i++) if (file[i] !== MAGIC[i] || file[n - 6 + i] !== MAGIC[i]) return undefined;
  let pos = 8;
  const dictionaries: MessageTemplate[] = [];
  let buffers = 0;
  for (const c of columns) {
    buffers += 1 + c.buffers.length;
    if (!c.dictionary) continue;
    const d = messageTemplate(r, pos, HEADER_DICTIONARY_BATCH, 1, 3);
    if (!d) return undefined;
    dictionaries.push(d.m);
    pos = d.next;
  }
  const b = messageTemplate(r, pos, HEADER_RECORD_BATCH, columns.length, buffers);
  if (!b) return undefined;
  pos = b.next;
  if (r.int32(pos) !== -1 || r.int32(pos + 4) !== 0) return undefined;
  const footerLength = r.int32(n - 10);
  if (pos + 8 + footerLength + 10 !== n) return undefined;
  const footer = r.root(pos + 8);
  const dictBlocks = r.deref(r.field(footer, 2));
  const batchBlocks = r.deref(r.field(footer, 3));
  if (dictBlocks < 0 || batchBlocks < 0 || r.count(dictBlocks) !== dictionaries.length || r.count(batchBlocks) !== 1) return undefined;
  return { dictionaries, batch: b.m, footer: file.slice(pos), dictionaryBlocksAt: dictBlocks + 4 - pos, batchBlockAt: batchBlocks + 4 - pos };
}

/**
 * A few rows of a table with the same schema and shape ({@link ipcShape}) as the file to write,
 * as IPC columns and as the file apache-arrow writes for them: what a template is made from.
 *
 * @example const s: IpcSample = { numRows: 1, columns, file: tableToIPC(table, 'file') };
 */
export interface IpcSample {
  numRows: number;
  columns: IpcColumn[];
  file: Uint8Array;
}

/**
 * Arrow IPC files byte-identical to apache-arrow's, from templates per (schema, shape). The
 * schema is identified by an object the caller keeps for it (the same object for the same
 * schema), the shape by {@link ipcShape}.
 *
 * @example
 * const files = new IpcFileTemplates();
 * const bytes = files.encode(schemaKey, n, columns, () => sampleOf(rows), () => tableToIPC(table, 'file'));
 */
export class IpcFileTemplates {
  /** Per schema key, per shape: the template, or null when apache-arrow writes that shape. */
  private readonly bySchema = new WeakMap<object, Map<string, FileTemplate | null>>();

  /**
   * The file of one record batch of `numRows` rows with these columns (in schema order). For the
   * first file of a shape, `sample` gives a few rows of that shape: the template is made from
   * apache-arrow's file of them and kept if it gives that file's bytes exactly. `reference`,
   * apache-arrow's file of the whole batch, is asked for only in a shape without a template.
   * A file written from a template is in `alloc`'s bytes (by default fresh ones).
   */
  encode(
    schemaKey: object,
    numRows: number,
    columns: readonly IpcColumn[],
    sample: () => IpcSample,
    reference: () => Uint8Array,
    alloc: IpcAlloc = freshBytes,
  ): Uint8Array {
    let shapes = this.bySchema.get(schemaKey);
    if (!shapes) this.bySchema.set(schemaKey, (shapes = new Map()));
    const shape = ipcShape(numRows, columns);
    let t = shapes.get(shape);
    if (t === undefined) {
      const s = sample();
      const made = ipcShape(s.numRows, s.columns) === shape ? fileTemplate(s.file, s.columns) : undefined;
      t = made && sameBytes(encodeWith(made, s.numRows, s.columns, freshBytes), s.file) ? made : null;
      shapes.set(shape, t);
    }
    return t ? encodeWith(t, numRows, columns, alloc) : reference();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
