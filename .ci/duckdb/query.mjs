// query.mjs runs SQL in an in-memory DuckDB and prints the rows of the last
// statement as a JSON array of objects on stdout.
//
//   node query.mjs "SELECT * FROM read_parquet('out/**/*.parquet')"
//   echo "DESCRIBE SELECT 1" | node query.mjs
//
// Values are converted to plain JSON: 64-bit integers become numbers when they
// are safe integers and strings otherwise; DATE becomes "YYYY-MM-DD";
// TIMESTAMP WITH TIME ZONE becomes "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) and
// TIMESTAMP the same without the Z; lists and arrays become arrays; structs
// become objects; maps become arrays of {key, value}; everything else
// (DECIMAL, TIME, INTERVAL, UUID, BLOB, ...) becomes its DuckDB text form.
// On any error it prints the error on stderr and exits with status 1.
import {
  DuckDBInstance,
  DuckDBArrayValue,
  DuckDBDateValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
} from '@duckdb/node-api';

async function readSQL() {
  const args = process.argv.slice(2);
  if (args.length > 0 && !(args.length === 1 && args[0] === '-')) {
    return args.join(' ');
  }
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function isoMicros(micros, zone) {
  const sec = micros >= 0n ? micros / 1000000n : -((-micros + 999999n) / 1000000n);
  const frac = micros - sec * 1000000n;
  const base = new Date(Number(sec) * 1000).toISOString(); // ...T..:..:...000Z
  return base.slice(0, base.length - 5) + '.' + frac.toString().padStart(6, '0') + zone;
}

function convert(v) {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'string':
    case 'boolean':
      return v;
  }
  if (v instanceof DuckDBTimestampTZValue) {
    return v.isFinite ? isoMicros(v.micros, 'Z') : v.toString();
  }
  if (v instanceof DuckDBTimestampValue) {
    return v.isFinite ? isoMicros(v.micros, '') : v.toString();
  }
  if (v instanceof DuckDBDateValue) return v.toString();
  if (v instanceof DuckDBListValue || v instanceof DuckDBArrayValue) {
    return v.items.map(convert);
  }
  if (v instanceof DuckDBStructValue) {
    const out = {};
    for (const [k, x] of Object.entries(v.entries)) out[k] = convert(x);
    return out;
  }
  if (v instanceof DuckDBMapValue) {
    return v.entries.map((e) => ({ key: convert(e.key), value: convert(e.value) }));
  }
  return v.toString();
}

async function main() {
  const sql = await readSQL();
  if (sql.trim() === '') throw new Error('no SQL given (argv or stdin)');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const statements = await conn.extractStatements(sql);
    let rows = [];
    for (let i = 0; i < statements.count; i++) {
      const prepared = await statements.prepare(i);
      const reader = await prepared.runAndReadAll();
      rows = reader.getRowObjects().map((row) => {
        const out = {};
        for (const [k, v] of Object.entries(row)) out[k] = convert(v);
        return out;
      });
    }
    process.stdout.write(JSON.stringify(rows) + '\n');
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

main().catch((err) => {
  process.stderr.write(`duckdb: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
