// Compiled by test/types.test.js with `tsc --noEmit --strict`: the public
// types describe the seed's usage.
import * as React from 'react';
import {
  useUserDataSync, UserDataProvider, useUserData, EnhancedRealTimeStatsDemo, configureUserDataSync,
  createUserDataSync, UserDataSync, SyncError, Backoff, StatsDocument, StatsDelta, KeyValueStorage,
} from '../..';
import { createMemoryStorage, isNewer } from '../../core';

const storage: KeyValueStorage = createMemoryStorage();
configureUserDataSync({
  storage,
  getToken: async () => 'token',
  appState: { currentState: 'active', addEventListener: () => ({ remove() {} }) },
  netInfo: { addEventListener: () => () => {}, fetch: async () => ({ isConnected: true, isInternetReachable: null }) },
  debounceMs: 600,
});

export function Screen({ userId }: { userId: string }) {
  const { userData, updateUserStats, forcePull, flushQueue, loading, error } = useUserDataSync(userId);
  const xp: number = userData?.xp ?? 0;
  const delta: StatsDelta = { xp: 100, diamonds: 10, __set: { hearts: 5, level: 2 } };
  void updateUserStats(delta).then((doc) => doc?.version);
  void forcePull();
  void flushQueue().then((r) => r.pending);
  if (loading) return null;
  return React.createElement('Text', null, error ?? String(xp));
}

export function GameScreen() {
  const { stats, updateUserStats, loading, error } = useUserData();
  const hearts: number = stats?.hearts || 5;
  void updateUserStats({ xp: 10, streak: 1, diamonds: 1 }).catch((err: unknown) => {
    if (err instanceof SyncError && err.kind === 'refused') return err.code;
    return undefined;
  });
  return loading || error ? null : React.createElement('Text', null, hearts);
}

export const app = React.createElement(UserDataProvider, { userId: 'alice', debounceMs: 300 },
  React.createElement(GameScreen), React.createElement(EnhancedRealTimeStatsDemo));

const s: UserDataSync = createUserDataSync('alice', { apiUrl: 'http://x', storage });
const off: () => void = s.on('refused', (e) => console.log(e.opId, e.delta, e.status));
s.on('ack', (a) => a.duplicate);
s.subscribe((st) => st.pendingCount + (st.userData ? st.userData.version : 0));
off();
const doc: StatsDocument | null = s.getUserData();
const b = new Backoff({ min: 500, max: 5000 });
export const newer: boolean = isNewer(doc, null) && b.next() === 500;

// @ts-expect-error unknown field names are not stats fields
export const bad: StatsDelta = { xpp: 1 };
