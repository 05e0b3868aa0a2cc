'use strict';
// EnhancedRealTimeStatsDemo — the seed's test screen: live stats, the
// connection (connected, why the socket cannot connect), the queue (pending
// operations), the last sync, and buttons for the seed's test scenarios.
//
//   <EnhancedRealTimeStatsDemo />                 inside <UserDataProvider>
//   <EnhancedRealTimeStatsDemo userId="alice" />  standalone (uses configureUserDataSync())
//
// Plain React.createElement (no JSX), so the package needs no build step.

const React = require('react');
const { View, Text, TouchableOpacity, ScrollView, StyleSheet } = require('react-native');
const { UserDataContext } = require('../contexts/UserDataContext');
const useUserDataSync = require('../hooks/useUserDataSync');

const h = React.createElement;

const STAT_ROWS = [
  ['xp', 'XP'], ['hearts', 'Hearts'], ['diamonds', 'Diamonds'], ['level', 'Level'],
  ['streak', 'Streak'], ['maxStreak', 'Max streak'], ['accuracy', 'Accuracy %'],
  ['correctAnswers', 'Correct'], ['wrongAnswers', 'Wrong'], ['totalQuestions', 'Questions'],
];

// The seed's test scenarios as deltas.
const ACTIONS = {
  correct: { xp: 10, streak: 1, diamonds: 1, correctAnswers: 1, totalQuestions: 1, completedQuestions: 1 },
  wrong: { hearts: -1, wrongAnswers: 1, totalQuestions: 1, completedQuestions: 1, __set: { streak: 0 } },
  refill: { __set: { hearts: 5 } },
};

function Button({ label, onPress, testID }) {
  return h(TouchableOpacity, { onPress, testID, style: styles.button, accessibilityRole: 'button' },
    h(Text, { style: styles.buttonText }, label));
}

function EnhancedRealTimeStatsDemo(props) {
  const ctx = React.useContext(UserDataContext);
  // Standalone use (no provider): run our own hook; inside a provider the
  // hook is idle (no userId) and the context's service is used.
  const own = useUserDataSync(ctx ? null : props.userId, props.options);
  const sync = ctx || own;
  const {
    updateUserStats, forcePull, flushQueue, loading, error, connected, connectionError, pendingCount, online, syncError, lastSyncedAt,
  } = sync;
  const stats = sync.userData;
  const [log, setLog] = React.useState([]);
  const mounted = React.useRef(true);
  React.useEffect(() => () => { mounted.current = false; }, []);

  const note = React.useCallback((line) => {
    if (mounted.current) setLog((l) => [`${new Date().toISOString().slice(11, 19)} ${line}`].concat(l).slice(0, 8));
  }, []);
  const run = React.useCallback((label, fn) => () => {
    Promise.resolve().then(fn).then(() => note(`${label}: ok`), (err) => note(`${label}: ${err && err.message}`));
  }, [note]);

  if (loading && !stats) {
    return h(View, { style: styles.container, testID: 'statsync-demo-loading' }, h(Text, null, 'Loading...'));
  }
  return h(ScrollView, { style: styles.container, testID: 'statsync-demo' },
    h(Text, { style: styles.title }, 'Real-time stats'),
    h(Text, { testID: 'statsync-demo-status' },
      `${connected ? 'Connected' : 'Disconnected'}${online === false ? ' (offline)' : ''} · pending: ${pendingCount || 0}`),
    h(Text, { testID: 'statsync-demo-synced', style: styles.log },
      `Last synced: ${lastSyncedAt ? new Date(lastSyncedAt).toISOString().slice(11, 19) : 'never'}`),
    connectionError
      ? h(Text, { style: styles.retry, testID: 'statsync-demo-connection' }, `Socket: ${connectionError.message || connectionError}`)
      : null,
    error ? h(Text, { style: styles.error, testID: 'statsync-demo-error' }, `Error: ${error}`) : null,
    syncError ? h(Text, { style: styles.retry, testID: 'statsync-demo-retry' }, `Retrying: ${syncError.message}`) : null,
    h(View, { style: styles.grid },
      STAT_ROWS.map(([key, label]) => h(Text, { key, testID: `stat-${key}`, style: styles.stat },
        `${label}: ${stats && stats[key] !== undefined ? stats[key] : '-'}`))),
    h(View, { style: styles.row },
      h(Button, { label: 'Correct answer', testID: 'btn-correct', onPress: run('correct', () => updateUserStats(ACTIONS.correct)) }),
      h(Button, { label: 'Wrong answer', testID: 'btn-wrong', onPress: run('wrong', () => updateUserStats(ACTIONS.wrong)) }),
      h(Button, { label: 'Refill hearts', testID: 'btn-refill', onPress: run('refill', () => updateUserStats(ACTIONS.refill)) })),
    h(View, { style: styles.row },
      h(Button, { label: 'Force sync', testID: 'btn-pull', onPress: run('force sync', () => forcePull()) }),
      h(Button, { label: 'Flush queue', testID: 'btn-flush', onPress: run('flush', () => flushQueue()) })),
    h(View, { testID: 'statsync-demo-log' }, log.map((line, i) => h(Text, { key: `${i}-${line}`, style: styles.log }, line))));
}

const styles = StyleSheet.create({
  container: { padding: 16 },
  title: { fontSize: 20, fontWeight: '600', marginBottom: 8 },
  error: { color: '#b00020', marginVertical: 4 },
  retry: { color: '#8a6d00', marginVertical: 4 },
  grid: { flexDirection: 'row', flexWrap: 'wrap', marginVertical: 8 },
  stat: { width: '50%', paddingVertical: 2 },
  row: { flexDirection: 'row', flexWrap: 'wrap', marginVertical: 4 },
  button: { backgroundColor: '#1f6feb', borderRadius: 6, paddingHorizontal: 10, paddingVertical: 8, margin: 4 },
  buttonText: { color: 'white' },
  log: { fontSize: 12, color: '#555' },
});

EnhancedRealTimeStatsDemo.ACTIONS = ACTIONS;

module.exports = EnhancedRealTimeStatsDemo;
module.exports.default = EnhancedRealTimeStatsDemo;
module.exports.EnhancedRealTimeStatsDemo = EnhancedRealTimeStatsDemo;
Object.defineProperty(module.exports, '__esModule', { value: true });
