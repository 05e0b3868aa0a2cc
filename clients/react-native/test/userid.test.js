'use strict';
// userIds are what identity providers issue (DESIGN §2): the SDK takes every
// id the server takes, and sends it URL-encoded in REST paths.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeServer, makeClient, settle } = require('./support/fakes');
const { UserDataSync } = require('..');

const quiet = { apiUrl: 'http://api.test', autoConnect: false, autoDetect: false, logger: {} };

test('userId: provider ids, emails and UUIDs are accepted; malformed ids are refused at once', () => {
  for (const id of ['auth0|5f7c8ec7c33c6c004bbafe82', 'google-oauth2|1234567890', 'ada@example.com',
    '0b6f7a52-6d0b-4c5e-9d55-3f0a1c2b9e11', 'x', 'a'.repeat(128), 'é'.repeat(64), 'user name']) {
    assert.doesNotThrow(() => new UserDataSync(id, quiet), id);
  }
  for (const id of ['', ' alice', 'alice ', 'al\nice', 'al\u0000ice', 'a'.repeat(129), 'é'.repeat(65), 42, null]) {
    assert.throws(() => new UserDataSync(id, quiet), /userId must be/, JSON.stringify(id));
  }
});

test('userId: sent URL-encoded in the REST path', async (t) => {
  const server = new FakeServer();
  const h = makeClient(server, { userId: 'auth0|abc/def', autoConnect: false });
  t.after(() => h.client.destroy());
  await h.client.start();
  await settle();
  const get = h.fetch.calls.find((c) => c.method === 'GET');
  assert.equal(get.url, 'http://api.test/api/users/auth0%7Cabc%2Fdef/stats');
});
