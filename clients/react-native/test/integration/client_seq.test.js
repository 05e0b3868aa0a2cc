'use strict';
// Exactly-once with no time window against the REAL system (issue 16 item 1):
// an operation whose ack is lost — the gateway killed between the server's
// commit and the answer — and that is re-sent only after the server has
// forgotten its opId (STATSYNC_IDEMPOTENCY_TTL_S=2, waited for as a state:
// the stats-service's statsync_stats_idempotency_pruned_total) is applied
// once: the server recognises it by this install's clientId and seq.
const test = require('node:test');
const assert = require('node:assert/strict');
const H = require('./helpers');

const SKIP = H.skipReason();
if (SKIP) {
  // eslint-disable-next-line no-console
  console.log(`# SKIP client integration tests: ${SKIP}`);
}
const itest = (name, fn) => test(name, { skip: SKIP || false, timeout: 120000 }, fn);

let System;
if (!SKIP) ({ System } = require(H.SYSTEM_JS));

async function prunedOpIds(sys) {
  const text = await (await fetch(`http://127.0.0.1:${sys.statsAdminPort}/metrics`)).text();
  const m = /^statsync_stats_idempotency_pruned_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

// The answer to the first user:clientUpdate (the server committed it) never
// reaches the client: the gateway is killed first and the client sees a lost
// connection instead.
function loseFirstAck(c, kill) {
  const s = c._socket;
  const orig = s.timeout.bind(s);
  let lost = false;
  s.timeout = (ms) => {
    const em = orig(ms);
    return {
      emit: (ev, payload, cb) => {
        if (ev !== 'user:clientUpdate' || lost) return em.emit(ev, payload, cb);
        lost = true;
        return em.emit(ev, payload, (err) => {
          Promise.resolve(kill()).then(() => cb(err || new Error('socket has been disconnected')));
        });
      },
    };
  };
}

for (const transport of ['socket', 'rest']) {
  itest(`${transport}: an ack lost (gateway killed after the commit) and re-sent after the opId TTL expired is applied once`, async () => {
    const sys = await System.start({ statsEnv: { STATSYNC_IDEMPOTENCY_TTL_S: '2' } });
    let c;
    try {
      const userId = H.uniqueUser(`rn-seq-${transport}`);
      let killed = null;
      const kill = () => { if (!killed) killed = sys.gw.kill('SIGKILL'); return killed; };
      let posts = 0;
      const losingFetch = async (url, init = {}) => {
        const res = await fetch(url, init);
        if (transport === 'rest' && init.method === 'POST' && ++posts === 1) {
          await res.text(); // committed on the server...
          await kill(); // ...and the answer dies with the gateway
          throw new TypeError('fetch failed: socket hang up');
        }
        return res;
      };
      c = H.makeClient(sys, userId, { autoConnect: transport === 'socket', fetch: losingFetch });
      const acks = [];
      c.on('ack', (a) => acks.push(a));
      await c.start();
      if (transport === 'socket') {
        await H.until('socket connected', () => c.getState().connected);
        loseFirstAck(c, kill);
      }
      await H.until('first document', () => c.getUserData() && c.getUserData().version === 0);
      await c.updateUserStats({ xp: 7, diamonds: 1 });
      await H.until('gateway killed after the commit', () => killed, 20000);
      await killed;
      assert.equal(acks.length, 0, 'no answer reached the client');
      assert.equal(c.getState().pendingCount, 1, 'the operation stays queued');
      const [entry] = c.getPendingOperations();
      assert.equal(entry.seq, 1);
      // the server forgets the opId (a state, not a sleep)
      await H.until('opId pruned by the stats-service', async () => (await prunedOpIds(sys)) >= 1, 20000, 100);
      await sys.restartGateway(sys.gw);
      if (transport === 'rest') {
        await H.until('flushed over REST', async () => { await c.flushQueue().catch(() => {}); return c.getState().pendingCount === 0; }, 30000, 200);
      }
      await H.until('queue drained', () => c.getState().pendingCount === 0, 30000);
      assert.equal(acks.length, 1);
      assert.equal(acks[0].duplicate, true, 'recognised by its seq: the opId was long forgotten');
      assert.equal(acks[0].opId, entry.opId);
      const doc = await H.serverDoc(sys, userId);
      assert.equal(doc.xp, 7, 'applied once');
      assert.equal(doc.diamonds, 1);
      assert.equal(doc.version, 1);
      await H.until('client view = server document', () => c.getUserData().version === 1);
      assert.equal(c.getUserData().xp, 7);
      assert.equal(c.getState().error, null);
    } catch (err) {
      err.message += `\n---- server logs ----\n${sys.logs()}`;
      throw err;
    } finally {
      if (c) await c.destroy();
      await sys.stop();
    }
  });
}
