// Types of @statsync/react-native.
import type * as React from 'react';
import type { StatsDocument, StatsDelta, SyncError, PresenceInfo, UserDataSync, UserDataSyncOptions, SignOutOptions } from './core';

export * from './core';

export interface UseUserDataSyncResult {
  /** Optimistic document (last server document + queued deltas); null until known. */
  userData: StatsDocument | null;
  /** Resolves with the optimistic document once the delta is persisted in the queue. */
  updateUserStats: (delta: StatsDelta) => Promise<StatsDocument | null>;
  forcePull: () => Promise<StatsDocument | null>;
  flushQueue: () => Promise<{ pending: number }>;
  loading: boolean;
  /** Message of the last error (renderable), or null. */
  error: string | null;
  errorDetail: SyncError | Error | null;
  /** Last transient failure of background sync (queue kept, retrying); cleared by the next success. */
  syncError: SyncError | Error | null;
  clearError: () => void;
  /** Stops the service and deletes the user's stored queue and document ({flush: true}: send the queue first). */
  signOut: (options?: SignOutOptions) => Promise<{ discarded: number }>;
  connected: boolean;
  /** Why the socket is not connected (the server's reason), or null. */
  connectionError: SyncError | null;
  online: boolean | null;
  pendingCount: number;
  syncing: boolean;
  lastSyncedAt: number | null;
  presence: PresenceInfo | null;
  /** true after signOut() (until userId changes). */
  signedOut: boolean;
  /** null until the service is there; the actions above work before (they wait for it). */
  service: UserDataSync | null;
}

export function useUserDataSync(userId: string | null | undefined, options?: UserDataSyncOptions): UseUserDataSyncResult;

export interface UserDataContextValue extends UseUserDataSyncResult {
  /** The same object as userData (the seed's screens read `stats`). */
  stats: StatsDocument | null;
  userId: string | null;
}

export const UserDataContext: React.Context<UserDataContextValue | null>;

export interface UserDataProviderProps extends UserDataSyncOptions {
  userId: string | null | undefined;
  children?: React.ReactNode;
}

export function UserDataProvider(props: UserDataProviderProps): React.ReactElement;
export function useUserData(): UserDataContextValue;

export interface EnhancedRealTimeStatsDemoProps {
  /** Only needed outside a UserDataProvider. */
  userId?: string;
  options?: UserDataSyncOptions;
}
export function EnhancedRealTimeStatsDemo(props: EnhancedRealTimeStatsDemoProps): React.ReactElement;
