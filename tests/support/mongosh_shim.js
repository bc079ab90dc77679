// Runs scripts/audit.js under plain Node with the few mongosh globals it uses. Each aggregate
// is answered from a file of results the test computed by running that same pipeline on
// mongomock, so the script's own logic (flags, totals, output, exit code) runs for real.
//   node mongosh_shim.js SCRIPT ANSWERS_JSON
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [script, answersFile] = process.argv.slice(2);
const answers = JSON.parse(fs.readFileSync(answersFile, 'utf8'));
const spec = JSON.parse(fs.readFileSync(path.join(path.dirname(script), 'audit_pipelines.json'), 'utf8'));
const calls = [];

function answer(collection, pipeline, options) {
  calls.push({ collection, options });
  const wanted = JSON.stringify(pipeline);
  for (const group of ['checks', 'totals']) {
    const index = spec[group].findIndex((entry) => entry.collection === collection
      && JSON.stringify(entry.pipeline) === wanted);
    if (index >= 0) return answers[`${group}/${index}`];
  }
  throw new Error(`no pipeline like this in the spec, on ${collection}`);
}

const cursor = (documents) => ({
  forEach: (visit) => documents.forEach(visit),
  toArray: () => documents,
});
const session = {
  options: null,
  ended: false,
  getDatabase: (name) => ({
    getCollection: (collection) => ({
      aggregate: (pipeline, options) => cursor(answer(collection, pipeline, options)),
    }),
  }),
  endSession() { this.ended = true; },
};

vm.runInNewContext(fs.readFileSync(script, 'utf8'), {
  require, process, __dirname: path.dirname(script), BigInt, JSON, Object, String,
  db: { getMongo: () => ({ startSession: (options) => { session.options = options; return session; } }) },
  EJSON: { stringify: (value) => JSON.stringify(value) },
  print: (text) => console.log(text),
  quit: (code) => {
    console.log(`SHIM ${JSON.stringify({ snapshot: session.options, ended: session.ended, calls })}`);
    process.exit(code);
  },
});
