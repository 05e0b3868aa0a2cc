// observability.test.js — the observability pack (compose/observability/)
// tested for real, with Debian's prometheus and promtool:
//
//  - `promtool check config` and `promtool check rules` accept the shipped
//    files as they are; `promtool test rules` runs the shipped unit tests
//    (rules.test.yml), which have, for every alert, a case where it fires
//    and one where it stays silent;
//  - every alert is `<quantity> <op> <number>`, so what it measures can be
//    evaluated even while it does not fire;
//  - against a real cluster (tests/lib/cluster.js: 3 NATS nodes, 2
//    stats-services owning half of the partitions each, 2 presence-services,
//    2 gateways — compose's instances, by the same names) with a little real
//    traffic (REST writes, reads, refusals, a rate-limited burst, a socket of
//    the real socket.io-client joining and updating), prometheus runs the
//    shipped prometheus.yml with its targets rewritten to the cluster's
//    loopback ports and its intervals shortened, and the shipped rules with
//    only their `for:` shortened (checked: nothing else differs). Every
//    target must come up; every query of the Grafana dashboard, every
//    recording rule (its expression and the series it records) and every
//    alert's quantity and comparison (with `bool`) must return series with a
//    number in them; each service's /metrics passes `promtool check
//    metrics`; with everything healthy no alert fires; then stats0 is
//    killed and StatsyncServiceDown and StatsyncPartitionUnowned must fire.
//
// Nothing is skipped: without prometheus the test fails and says that
// scripts/deps.sh installs it. YAML is read by tests/lib/yaml.js; the
// rewritten files are written as JSON, which Prometheus reads as YAML.
// (That compose runs these files, and Grafana's provisioning: compose_config.test.js.)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Cluster } = require('../lib/cluster');
const { Proc, freePort, waitFor } = require('../lib/system');
const { connect, emitAck } = require('../compat/sio_helpers');
const { readYaml } = require('../lib/yaml');

const ROOT = path.resolve(__dirname, '../..');
const OBS = path.join(ROOT, 'compose', 'observability');
const PROM_DIR = path.join(OBS, 'prometheus');
const PROM_YML = path.join(PROM_DIR, 'prometheus.yml');
const RULES_TEST = path.join(PROM_DIR, 'rules.test.yml');
const DASHBOARD = path.join(OBS, 'grafana', 'dashboards', 'statsync.json');

// The test's intervals: scrapes and rule evaluations every second, so that
// series, staleness and alerts follow within seconds.
const INTERVAL = '1s';
// What Grafana's $__rate_interval is for the shipped scrape interval (15 s,
// the datasource's timeInterval): max($__interval + 15s, 4 x 15s) = 1m at the
// dashboard's default range. The test's window then covers its traffic.
const RATE_INTERVAL = '1m';
// The shipped `for:` of every alert becomes this (the firing check below).
const SHORT_FOR = '1s';

function tool(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  assert.ok(r.status === 0 && r.stdout.trim(),
    `${name} is not installed: scripts/deps.sh test installs it (Debian package prometheus)`);
  return r.stdout.trim();
}

function run(file, args, opts = {}) {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 60000, ...opts });
  assert.ok(!r.error, `${file}: ${r.error && r.error.message}`);
  return r;
}

// ---- the shipped files ------------------------------------------------------

function promConfig() { return readYaml(PROM_YML); }

function ruleFiles(cfg = promConfig()) {
  assert.ok(Array.isArray(cfg.rule_files) && cfg.rule_files.length > 0, 'prometheus.yml loads no rule files');
  return cfg.rule_files.map((f) => path.resolve(PROM_DIR, f));
}

// [{ file, group, rule }] over every rule file prometheus.yml loads.
function allRules() {
  return ruleFiles().flatMap((file) => readYaml(file).groups.flatMap((g) => g.rules.map((rule) => ({ file, group: g, rule }))));
}

// An alert's expression as <quantity> <op> <threshold>.
function splitAlert(expr) {
  const m = /^([\s\S]+?)\s*(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i.exec(expr.trim());
  return m && { quantity: m[1].trim(), op: m[2], threshold: m[3] };
}

// Every query of the dashboard: panels, rows' panels, template variables.
function dashboardQueries() {
  const dash = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const out = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      for (const t of p.targets || []) {
        assert.ok(typeof t.expr === 'string' && t.expr.trim(), `panel "${p.title}" ${t.refId}: no expr`);
        out.push({ what: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of (dash.templating && dash.templating.list) || []) {
    if (v.type === 'query') out.push({ what: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query });
  }
  return out;
}

// Grafana's variables as Grafana would fill them; anything else left over
// is a variable this test does not know (and must be taught).
function grafanaExpr(expr) {
  const e = expr.replace(/\$__rate_interval/g, RATE_INTERVAL);
  assert.doesNotMatch(e, /\$/, `a Grafana variable the test does not fill: ${expr}`);
  return e;
}

// ---- static checks ----------------------------------------------------------

test('promtool: the shipped prometheus.yml and rules are valid, and the rule unit tests pass', () => {
  const promtool = tool('promtool');
  let r = run(promtool, ['check', 'config', PROM_YML]);
  assert.equal(r.status, 0, `promtool check config:\n${r.stdout}${r.stderr}`);
  const files = ruleFiles();
  r = run(promtool, ['check', 'rules', ...files]);
  assert.equal(r.status, 0, `promtool check rules:\n${r.stdout}${r.stderr}`);
  r = run(promtool, ['test', 'rules', path.basename(RULES_TEST)], { cwd: PROM_DIR });
  assert.equal(r.status, 0, `promtool test rules:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /SUCCESS/);
});

test('the rule unit tests load the shipped rules and make every alert fire and stay silent', () => {
  const t = readYaml(RULES_TEST);
  assert.deepEqual(t.rule_files.map((f) => path.resolve(PROM_DIR, f)).sort(), ruleFiles().sort(),
    'rules.test.yml must test the rule files prometheus.yml loads');
  const alerts = allRules().filter((x) => x.rule.alert).map((x) => x.rule.alert);
  const cases = t.tests.flatMap((c) => c.alert_rule_test || []);
  for (const name of alerts) {
    const mine = cases.filter((c) => c.alertname === name);
    assert.ok(mine.some((c) => (c.exp_alerts || []).length > 0), `no unit test where ${name} fires`);
    assert.ok(mine.some((c) => (c.exp_alerts || []).length === 0), `no unit test where ${name} stays silent`);
  }
  for (const c of cases) assert.ok(alerts.includes(c.alertname), `rules.test.yml tests ${c.alertname}, which no rule file defines`);
});

test('every alert is <quantity> <op> <number>, with a severity and a summary', () => {
  const alerts = allRules().filter((x) => x.rule.alert);
  assert.ok(alerts.length >= 8, `${alerts.length} alerts`);
  for (const { rule } of alerts) {
    assert.ok(splitAlert(rule.expr), `${rule.alert}: "${rule.expr}" is not <quantity> <op> <number>`);
    assert.match((rule.labels || {}).severity || '', /^(critical|warning)$/, `${rule.alert}: severity`);
    assert.ok((rule.annotations || {}).summary, `${rule.alert}: no summary`);
  }
});

// ---- against the real services ----------------------------------------------

// The metrics port of a cluster process: the gateway's REST port, the
// services' admin port.
function metricsPort(p) {
  if (p.kind === 'gateway') return p.apiPort;
  if (p.kind === 'stats' || p.kind === 'presence') return p.adminPort;
  throw new Error(`${p.name} (${p.kind}) exports no /metrics`);
}

// prometheus.yml for the cluster: every target host (a compose service name)
// becomes 127.0.0.1 and that process's port — job names and labels as
// shipped; intervals shortened; rule and file_sd paths made absolute, the
// rule files those of dir (the shipped ones with `for:` shortened).
function renderConfig(cfg, cl, dir) {
  const out = JSON.parse(JSON.stringify(cfg));
  out.global = { ...out.global, scrape_interval: INTERVAL, evaluation_interval: INTERVAL };
  if (out.global.scrape_timeout) out.global.scrape_timeout = INTERVAL;
  out.rule_files = ruleFiles(cfg).map((f) => path.join(dir, path.basename(f)));
  const absolute = (sds) => (sds || []).map((sd) => ({ ...sd, files: sd.files.map((f) => path.resolve(PROM_DIR, f)) }));
  for (const am of (out.alerting && out.alerting.alertmanagers) || []) am.file_sd_configs = absolute(am.file_sd_configs);
  const scraped = [];
  for (const job of out.scrape_configs) {
    for (const k of ['scrape_interval', 'scrape_timeout']) if (job[k]) job[k] = INTERVAL;
    assert.ok(!job.file_sd_configs && !job.dns_sd_configs, `${job.job_name}: only static targets can be rewritten`);
    for (const sc of job.static_configs) {
      sc.targets = sc.targets.map((t) => {
        const host = t.replace(/:\d+$/, '');
        const p = cl.proc(host); // throws for a name the cluster does not run
        scraped.push(p.name);
        return `127.0.0.1:${metricsPort(p)}`;
      });
    }
  }
  return { config: out, scraped };
}

function renderRules(file) {
  const r = readYaml(file);
  return {
    ...r,
    groups: r.groups.map((g) => ({ ...g, ...(g.interval ? { interval: INTERVAL } : {}),
      rules: g.rules.map((rule) => (rule.for ? { ...rule, for: SHORT_FOR } : rule)) })),
  };
}

// Only `for:` (and a group's interval) may differ between the shipped rules
// and the ones the test loads.
function assertOnlyForDiffers(shipped, loaded) {
  const strip = (x) => x.groups.map((g) => ({ ...g, interval: undefined,
    rules: g.rules.map((rule) => ({ ...rule, for: undefined })) }));
  assert.deepEqual(strip(loaded), strip(shipped));
}

class Prometheus {
  static async start(configFile, dir) {
    const port = await freePort();
    const p = new Proc('prometheus', tool('prometheus'), [
      `--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=info',
    ], { PATH: process.env.PATH, HOME: dir }, path.join(dir, 'prometheus.log'));
    p.start();
    const prom = new Prometheus(p, port);
    await waitFor('prometheus ready', async () => {
      if (p.child.exitCode !== null) throw new Error(`prometheus exited:\n${p.log().slice(-3000)}`);
      const r = await fetch(`${prom.url}/-/ready`).catch(() => null);
      return r && r.status === 200;
    }, 30000, 100);
    return prom;
  }

  constructor(proc, port) {
    this.proc = proc;
    this.url = `http://127.0.0.1:${port}`;
  }

  async api(p, params = {}) {
    const r = await fetch(`${this.url}/api/v1/${p}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(10000) });
    const body = await r.json();
    assert.equal(body.status, 'success', `${p} ${JSON.stringify(params)}: ${JSON.stringify(body)}`);
    return body.data;
  }

  async query(expr) {
    const d = await this.api('query', { query: expr });
    assert.equal(d.resultType, 'vector', `${expr}: a ${d.resultType}`);
    return d.result;
  }

  async value(expr) {
    const r = await this.query(expr);
    return r.length ? Number(r[0].value[1]) : null;
  }

  async alerts() { return (await this.api('alerts')).alerts; }

  // Waits until every target has been scraped (successfully) after t (seconds).
  async scrapedSince(t) {
    await waitFor('a scrape of every target', async () => {
      const { activeTargets } = await this.api('targets', { state: 'active' });
      return activeTargets.every((x) => x.health === 'up' && Date.parse(x.lastScrape) / 1000 > t);
    }, 20000, 200);
  }

  // The newest time every rule group was evaluated (seconds).
  async lastEvaluation() {
    const groups = (await this.api('rules')).groups;
    return Math.min(...groups.map((g) => Date.parse(g.lastEvaluation) / 1000));
  }

  log() { return this.proc.log(); }
}

// A little of everything the dashboard and the rules look at; round r
// (opIds and users' writes of their own). s: the socket of earlier rounds.
async function traffic(cl, r, s) {
  const [gw0, gw1] = cl.gateways;
  const patch = (user, body, gw) => cl.http('POST', '/api/users/data/patch', { token: cl.token(user), body, gw });
  let applied = 0;
  for (let i = 0; i < 8; i++) {
    const gw = i % 2 ? gw1 : gw0;
    const user = `obs-${i % 4}`;
    const res = await patch(user, { xp: 1 + i, diamonds: 5 }, gw);
    assert.equal(res.status, 200, res.text);
    applied++;
    assert.equal((await cl.http('GET', `/api/users/${user}/stats`, { token: cl.token(user), gw })).status, 200);
  }
  const full = await cl.http('POST', '/api/users/updateStats', {
    token: cl.token('obs-full'), body: { userId: 'obs-full', stats: { xp: 3 + r, updatedAt: new Date().toISOString() } },
  });
  assert.equal(full.status, 200, full.text);
  applied++;
  // Refusals: someone else's document, an unknown field, spending too much.
  assert.equal((await cl.http('GET', '/api/users/obs-1/stats', { token: cl.token('obs-0') })).status, 403);
  assert.equal((await patch('obs-0', { xp: 1, bogus: 2 }, gw1)).status, 400);
  const broke = await patch('obs-2', { diamonds: -1000000 }, gw0);
  assert.equal(broke.status, 409, broke.text);
  // A burst past the per-user write limit (STATSYNC_RATE_MUTATIONS_BURST).
  let limited = 0;
  for (let i = 0; i < 25 && limited === 0; i++) {
    const res = await patch('obs-burst', { xp: 1 }, gw0);
    if (res.status === 200) applied++;
    else if (res.status === 429) limited++;
    else assert.fail(`burst: ${res.status} ${res.text}`);
  }
  assert.ok(limited > 0, 'the burst was never rate limited');
  await cl.http('GET', '/health', { gw: gw1 }); // a probe: left out of the API's latency and errors
  // A socket of the real client (kept open): join, updates.
  const sock = s || await connect(cl, 'obs-sock', { transports: ['websocket'] }, gw1);
  const join = await emitAck(sock, 'presence:join', { userId: 'obs-sock' });
  assert.ok(join && join.ok !== false, JSON.stringify(join));
  for (let i = 0; i < 3; i++) {
    const ack = await emitAck(sock, 'user:clientUpdate', { opId: `obs-op-${r}-${i}`, delta: { xp: 1 } });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    applied++;
  }
  return { socket: sock, applied };
}

test('Prometheus with the shipped configuration against the real services: every target up, every panel and rule evaluates, alerts fire', async (t) => {
  tool('prometheus'); // fails at once, with the way to install it
  const cl = await Cluster.start({
    gatewayEnv: { STATSYNC_RATE_MUTATIONS_PER_S: '1', STATSYNC_RATE_MUTATIONS_BURST: '10' },
  });
  let prom = null;
  let sock = null;
  t.after(async () => {
    if (sock) sock.close();
    if (prom) await prom.proc.kill('SIGTERM');
    await cl.stop();
  });
  const dir = path.join(cl.dir, 'prometheus');
  fs.mkdirSync(dir);

  // The configuration: shipped files, rewritten as little as the test needs.
  const shipped = promConfig();
  const { config, scraped } = renderConfig(shipped, cl, dir);
  const services = cl.all().filter((p) => ['gateway', 'stats', 'presence'].includes(p.kind)).map((p) => p.name);
  assert.deepEqual([...scraped].sort(), [...services].sort(), 'prometheus.yml must scrape every service once');
  for (const f of ruleFiles(shipped)) {
    const loaded = renderRules(f);
    assertOnlyForDiffers(readYaml(f), loaded);
    fs.writeFileSync(path.join(dir, path.basename(f)), JSON.stringify(loaded, null, 1));
  }
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 1));
  const check = run(tool('promtool'), ['check', 'config', configFile]);
  assert.equal(check.status, 0, `the rewritten config:\n${check.stdout}${check.stderr}`);

  prom = await Prometheus.start(configFile, dir);
  const diag = () => `\n--- prometheus log ---\n${prom.log().slice(-3000)}`;

  // Every target up, with the shipped job names and instance labels.
  await waitFor('every target up', async () => {
    const { activeTargets } = await prom.api('targets', { state: 'active' });
    return activeTargets.length === scraped.length && activeTargets.every((x) => x.health === 'up');
  }, 30000, 200).catch(async (e) => {
    e.message += `\n${JSON.stringify((await prom.api('targets')).activeTargets.map((x) => [x.scrapeUrl, x.health, x.lastError]))}${diag()}`;
    throw e;
  });
  const want = shipped.scrape_configs.flatMap((j) => j.static_configs.map((sc) => `${j.job_name}/${sc.labels.instance}`)).sort();
  const got = (await prom.query('up')).map((s) => `${s.metric.job}/${s.metric.instance}`).sort();
  assert.deepEqual(got, want);

  // Two rounds of traffic, each until every target was scraped after it (a
  // state, not a sleep): a series the services create at its first use (a
  // route's status, a socket event's histogram) is first scraped with that
  // use already counted, so only the second round is an increase rate() sees.
  let applied = 0;
  for (let r = 0; r < 2; r++) {
    const tr = await traffic(cl, r, sock);
    sock = tr.socket;
    applied += tr.applied;
    await prom.scrapedSince(Date.now() / 1000);
  }
  assert.equal(await prom.value('sum(statsync_stats_mutations_total{code="ok"})'), applied);
  // What each service exposes also passes promtool's lint.
  for (const name of services) {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort(cl.proc(name))}/metrics`)).text();
    const lint = run(tool('promtool'), ['check', 'metrics'], { input: text });
    assert.equal(lint.status, 0, `promtool check metrics, ${name}:\n${lint.stdout}${lint.stderr}`);
  }
  // ... and every rule group evaluated since.
  const seen = Date.now() / 1000;
  await waitFor('every rule group evaluated after the traffic', async () => (await prom.lastEvaluation()) > seen + 1, 20000, 200);

  // Every query: series, and a number (not only NaN) among them.
  const failures = [];
  const evaluate = async (what, expr) => {
    const r = await prom.query(expr);
    if (r.length === 0) failures.push(`${what}: no series\n    ${expr}`);
    else if (!r.some((s) => Number.isFinite(Number(s.value[1])))) failures.push(`${what}: only NaN/Inf\n    ${expr}`);
  };
  const queries = dashboardQueries();
  assert.ok(queries.length >= 20, `${queries.length} dashboard queries`);
  for (const q of queries) await evaluate(q.what, grafanaExpr(q.expr));
  for (const { rule } of allRules()) {
    if (rule.record) {
      await evaluate(`recording rule ${rule.record} (expression)`, rule.expr);
      await evaluate(`recording rule ${rule.record} (recorded series)`, rule.record);
    } else {
      const a = splitAlert(rule.expr);
      await evaluate(`alert ${rule.alert} (quantity)`, a.quantity);
      await evaluate(`alert ${rule.alert} (comparison)`, `${a.quantity} ${a.op} bool ${a.threshold}`);
    }
  }
  assert.deepEqual(failures, [], `queries without data:\n${failures.join('\n')}`);

  // Healthy: no alert fires (over a few evaluations; those of the first
  // seconds, before every target had been scraped, resolve).
  await waitFor('no alert while everything is healthy', async () => (await prom.alerts()).length === 0, 20000, 200)
    .catch(async (e) => { e.message += ` ${JSON.stringify(await prom.alerts())}`; throw e; });
  const quiet = Date.now() / 1000;
  await waitFor('three more evaluations', async () => (await prom.lastEvaluation()) > quiet + 3, 20000, 200);
  assert.deepEqual(await prom.alerts(), [], 'an alert fired in a healthy cluster');

  // stats0 dies: its target is down and its partitions have no owner.
  await cl.kill('stats0');
  const firing = async () => (await prom.alerts()).filter((a) => a.state === 'firing');
  let last = [];
  await waitFor('StatsyncServiceDown (stats0) and StatsyncPartitionUnowned firing', async () => {
    last = await firing();
    return last.some((a) => a.labels.alertname === 'StatsyncServiceDown' && a.labels.instance === 'stats0')
      && last.some((a) => a.labels.alertname === 'StatsyncPartitionUnowned');
  }, 30000, 200).catch((e) => { e.message += ` ${JSON.stringify(last)}${diag()}`; throw e; });
  const unowned = last.find((a) => a.labels.alertname === 'StatsyncPartitionUnowned');
  const stats0 = cl.proc('stats0');
  const expected = (await prom.value('max(max_over_time(statsync_stats_cluster_partitions[1h]))'))
    - (await prom.value('count(statsync_stats_lmdb_map_size_bytes)'));
  assert.equal(Number(unowned.value), expected);
  assert.equal(expected, cl.partitionCount / 2, `stats0 served ${stats0.partitions}: half of the partitions`);
  assert.match(unowned.annotations.summary, new RegExp(`^${expected} partition\\(s\\)`));
});
