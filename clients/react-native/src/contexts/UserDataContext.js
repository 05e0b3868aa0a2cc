'use strict';
// UserDataProvider / useUserData — one sync service for every screen.
//
//   <UserDataProvider userId={userId}>...</UserDataProvider>
//   const { stats, updateUserStats, forcePull, flushQueue, loading, error } = useUserData();
//
// `stats` and `userData` are the same document (the seed's screens read
// `stats`). Provider props other than userId/children are service options
// (apiUrl, socketUrl, getToken, storage, appState, netInfo, debounceMs, ...)
// and override configureUserDataSync(); changing one after mount re-creates
// the service with it (see useUserDataSync).

const React = require('react');
const useUserDataSync = require('../hooks/useUserDataSync');

const UserDataContext = React.createContext(null);
UserDataContext.displayName = 'UserDataContext';

function UserDataProvider(props) {
  const { userId, children, ...options } = props;
  const sync = useUserDataSync(userId, options);
  // A new context value only when something in it changed (every field of
  // the hook's result is a dependency: the list is the same at every render).
  const value = React.useMemo(() => ({ ...sync, stats: sync.userData, userId: userId || null }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [...Object.values(sync), userId]);
  return React.createElement(UserDataContext.Provider, { value }, children);
}

function useUserData() {
  const ctx = React.useContext(UserDataContext);
  if (!ctx) throw new Error('statsync: useUserData() must be used inside <UserDataProvider userId={...}>');
  return ctx;
}

module.exports = { UserDataContext, UserDataProvider, useUserData, default: UserDataContext };
Object.defineProperty(module.exports, '__esModule', { value: true });
