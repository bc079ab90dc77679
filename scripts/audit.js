// The ledger audit for an auditor who has only the mongo shell.
//
//   MONGO_DB=wallet mongosh "mongodb://HOST/?replicaSet=rs0" scripts/audit.js
//
// Runs the pipelines of audit_pipelines.json (beside this file): the same rules as
// `flask --app app ledger verify` and GET /audit, on one snapshot of the database.
// Prints a summary and the violations (the first 100), and exits 1 if there is any.
// Needs mongosh 1.3+ and MongoDB 5.0+ (snapshot sessions; $lookup with a sub-pipeline).
// It only reads: a read-only user is enough.
const fs = require('fs');
const path = require('path');

const MAX_LISTED = 100;
const here = typeof __dirname === 'string' ? __dirname : 'scripts';
const spec = JSON.parse(fs.readFileSync(
  process.env.AUDIT_PIPELINES || path.join(here, 'audit_pipelines.json'), 'utf8'));
const databaseName = process.env.MONGO_DB || 'wallet';
// Every read of one snapshot session sees the same moment, while the service keeps writing.
const session = db.getMongo().startSession({ snapshot: true });
const database = session.getDatabase(databaseName);
const options = { allowDiskUse: true };

const listed = [];
let violationCount = 0;

function flag(rule, id, facts) {
  violationCount += 1;
  if (listed.length < MAX_LISTED) listed.push({ rule, id, facts });
}

function dollars(cents) {
  // Exact: integer cents through BigInt, never a float division.
  const value = BigInt(String(cents === undefined || cents === null ? 0 : cents));
  const size = value < 0n ? -value : value;
  return `${value < 0n ? '-' : ''}${size / 100n}.${String(size % 100n).padStart(2, '0')}`;
}

function factsOf(document, rules) {
  const facts = {};
  for (const [key, value] of Object.entries(document)) {
    if (key !== 'id' && !rules.includes(key)) facts[key] = value;
  }
  return facts;
}

for (const check of spec.checks) {
  database.getCollection(check.collection).aggregate(check.pipeline, options).forEach((document) => {
    for (const rule of check.rules) {
      if (document[rule] === true) flag(rule, document.id, factsOf(document, check.rules));
    }
  });
}

const totals = {};
for (const total of spec.totals) {
  const rows = database.getCollection(total.collection).aggregate(total.pipeline, options).toArray();
  Object.assign(totals, rows[0] || {});
}
const held = totals.total_held_cents || 0;
const deposited = totals.total_deposited_cents || 0;
// Double-entry: every account's balance, the system accounts' too, sums to zero.
const sum = spec.conservation.sum_of.reduce((acc, name) => acc + BigInt(String(totals[name] || 0)), 0n);
if (sum !== 0n) {
  const facts = {};
  for (const name of spec.conservation.sum_of) facts[name] = totals[name] || 0;
  flag(spec.conservation.rule, null, facts);
}
session.endSession();

print(`database: ${databaseName}`);
print(`wallets: ${totals.wallets || 0}  entries: ${totals.entries || 0}  ` +
      `money in: ${dollars(deposited)}  money held: ${dollars(held)}`);
for (const violation of listed) {
  print(`VIOLATION ${violation.rule} ${violation.id} ${EJSON.stringify(violation.facts, { relaxed: true })}`);
}
if (violationCount > listed.length) print(`... and ${violationCount - listed.length} more`);
print(violationCount === 0 ? 'OK: the books balance' : `FAILED: ${violationCount} violation(s)`);
quit(violationCount === 0 ? 0 : 1);
