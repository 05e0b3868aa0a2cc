'use strict';
// UserDataProvider / useUserData — one sync service for every screen.
//
//   <UserDataProvider userId={userId}>...</UserDataProvider>
//   const { stats, updateUserStats, forcePull, flushQueue, loading, error } = useUserData();
//
// `stats` and `userData` are the same document (the seed's screens read
// `stats`). Provider props other than userId/children are service options
// (apiUrl, socketUrl, getToken, storage, appState, netInfo, debounceMs, ...)
// and override configureUserDataSync().

const React = require('react');
const useUserDataSync = require('../hooks/useUserDataSync');

const UserDataContext = React.createContext(null);
UserDataContext.displayName = 'UserDataContext';

function UserDataProvider(props) {
  const { userId, children, ...options } = props;
  const sync = useUserDataSync(userId, options);
  const value = React.useMemo(() => ({ ...sync, stats: sync.userData, userId: userId || null }), [
    sync.userData, sync.loading, sync.error, sync.errorDetail, sync.syncError, sync.connected, sync.online, sync.pendingCount,
    sync.syncing, sync.lastSyncedAt, sync.presence, sync.service, userId,
  ]);
  return React.createElement(UserDataContext.Provider, { value }, children);
}

function useUserData() {
  const ctx = React.useContext(UserDataContext);
  if (!ctx) throw new Error('statsync: useUserData() must be used inside <UserDataProvider userId={...}>');
  return ctx;
}

module.exports = { UserDataContext, UserDataProvider, useUserData, default: UserDataContext };
Object.defineProperty(module.exports, '__esModule', { value: true });
