// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
//
//   node tests/node/validate.mjs < documents.json
//
// stdin: a JSON object {name: document, ...}. stdout: a JSON object {name: [diagnostic, ...], ...} where each
// diagnostic is {severity: "error"|"warning"|"information"|"hint", code, message, path}. Exit status 0 always
// (the caller decides what to reject); 2 when stdin is not a JSON object.
import { Parser } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const input = JSON.parse(await readStdin());
if (input === null || typeof input !== 'object' || Array.isArray(input)) {
  console.error('expected a JSON object of documents');
  process.exit(2);
}
const parser = new Parser();
const out = {};
for (const [name, document] of Object.entries(input)) {
  const { document: parsed, diagnostics } = await parser.parse(JSON.stringify(document));
  out[name] = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: d.code,
    message: d.message,
    path: d.path,
  }));
  if (parsed === undefined && !out[name].some((d) => d.severity === 'error')) {
    out[name].push({ severity: 'error', code: 'unparsed', message: 'the parser returned no document', path: [] });
  }
}
process.stdout.write(JSON.stringify(out));
