// partition.js — the partition function of common/ss_partition.c, for tests:
// FNV-1a (32 bit) of the userId's UTF-8 bytes modulo the partition count.
'use strict';

function partitionOf(userId, count = 64) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(userId, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % count;
}

// n userIds "<prefix><i>" whose partitions satisfy want(p).
function usersWhere(prefix, n, want, count = 64) {
  const out = [];
  for (let i = 0; out.length < n && i < 100000; i++) {
    const u = `${prefix}${i}`;
    if (want(partitionOf(u, count))) out.push(u);
  }
  return out;
}

module.exports = { partitionOf, usersWhere };
