// Compiled by test/types.test.js with `tsc --noEmit --strict`: the public
// types describe the seed's usage.
import * as React from 'react';
import {
  useUserDataSync, UserDataProvider, useUserData, EnhancedRealTimeStatsDemo, configureUserDataSync,
  createUserDataSync, UserDataSync, SyncError, Backoff, StatsDocument, StatsDelta, KeyValueStorage,
  signOutUserDataSync, TokenRequest, SyncState,
} from '../..';
import { createMemoryStorage, isNewer, tokenExp, decodeJwtPayload, isValidUserId } from '../../core';

// An Expo app has process.env typed (expo-env.d.ts); this test has no node types.
declare const process: { env: Record<string, string | undefined> };

const storage: KeyValueStorage = createMemoryStorage();
configureUserDataSync({
  apiUrl: process.env.EXPO_PUBLIC_API_URL,
  storage,
  getToken: async ({ reason, forceRefresh }: TokenRequest) => (forceRefresh || reason === 'refresh' ? 'fresh' : 'token'),
  tokenRefreshLeadMs: 30000,
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

// Connection state and sign-out, from the hook and the context.
export function StatusBar() {
  const { connected, connectionError, pendingCount, lastSyncedAt, signOut, signedOut } = useUserData();
  const code: string | undefined = connectionError?.code;
  const why: string | undefined = connectionError?.reason;
  const at: string = lastSyncedAt ? new Date(lastSyncedAt).toISOString() : 'never';
  void signOut({ flush: true }).then((r) => r.discarded);
  void signOut();
  return React.createElement('Text', null, `${connected} ${code ?? ''} ${why ?? ''} ${pendingCount} ${at} ${signedOut}`);
}

export function Screen2({ userId }: { userId: string | null }) {
  const r = useUserDataSync(userId, { apiUrl: 'https://app.example.com', getToken: () => 'tok', storage: null, netInfo: null });
  return React.createElement('Text', null, r.connectionError ? r.connectionError.message : String(r.connected));
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
s.on('ack', (a) => a.duplicate && a.seq > 0);
s.on('seqGap', (g) => `${g.previousClientId} -> ${g.clientId}: expected ${g.expectedSeq}, sent ${g.seq}`);
export const clientId: string | null = s.clientId;
export const seqs: number[] = s.getPendingOperations().map((o) => o.seq);
s.subscribe((st) => st.pendingCount + (st.userData ? st.userData.version : 0));
off();
s.on('connectError', (e) => e.code === 'too_many_sockets');
s.on('tokenRefresh', (e) => e.exp);
s.on('signedOut', (e) => e.discarded);
const st: SyncState = s.getState();
export const conn: string | null = st.connectionError ? st.connectionError.message : null;
void s.signOut({ flush: false }).then((r) => r.discarded);
void signOutUserDataSync('alice', { flush: true, storage });
export const exp: number | null = tokenExp('a.b.c');
export const payload = decodeJwtPayload('a.b.c');
export const okId: boolean = isValidUserId('auth0|5f7c');
const doc: StatsDocument | null = s.getUserData();
const b = new Backoff({ min: 500, max: 5000 });
export const newer: boolean = isNewer(doc, null) && b.next() === 500;

// @ts-expect-error unknown field names are not stats fields
export const bad: StatsDelta = { xpp: 1 };

// @ts-expect-error signOut's flush is a boolean
void s.signOut({ flush: 'yes' });
