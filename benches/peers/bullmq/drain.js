// BullMQ peer: node drain.js enqueue N | node drain.js drain N CONCURRENCY (see ../README.md).
// Jobs are kept on completion (BullMQ's default: the return value stays in the job's hash, as
// arq keeps a result); the N-th 'completed' event is emitted once that write is done.
const { Queue, Worker } = require('bullmq');

const t0 = process.hrtime.bigint();
const [mode, nArg, concArg] = process.argv.slice(2);
const n = Number(nArg);
const url = new URL(process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };

async function enqueue() {
  const q = new Queue('bench', { connection });
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: 'noop', data: {} });
    await q.addBulk(jobs);
  }
  await q.close();
}

function drain() {
  let done = 0;
  const worker = new Worker('bench', async () => null, { connection, concurrency: Number(concArg) });
  worker.on('completed', () => {
    done += 1;
    if (done === n) {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ jobs: n, seconds }) + '\n', () => process.exit(0));
    }
  });
  worker.on('error', (e) => { console.error(e); process.exit(1); });
}

if (mode === 'enqueue') {
  enqueue().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else {
  drain();
}
