'use strict';
// A tiny react-native stand-in for react-test-renderer: host components are
// plain strings, so the renderer shows them by name with their props.
const View = 'View';
const Text = 'Text';
const TouchableOpacity = 'TouchableOpacity';
const ScrollView = 'ScrollView';
const Button = 'Button';
const ActivityIndicator = 'ActivityIndicator';
const StyleSheet = { create: (s) => s, flatten: (s) => s };
const listeners = new Set();
const AppState = {
  currentState: 'active',
  addEventListener(ev, fn) { listeners.add(fn); return { remove: () => listeners.delete(fn) }; },
  _set(next) { AppState.currentState = next; for (const fn of Array.from(listeners)) fn(next); },
};
module.exports = { View, Text, TouchableOpacity, ScrollView, Button, ActivityIndicator, StyleSheet, AppState, Platform: { OS: 'ios' } };
