// Types of @statsync/react-native/core (the service, without React).

export interface StatsDocument {
  userId?: string;
  xp: number;
  hearts: number;
  diamonds: number;
  level: number;
  streak: number;
  maxStreak: number;
  accuracy: number;
  completedQuestions: number;
  correctAnswers: number;
  wrongAnswers: number;
  totalQuestions: number;
  totalTimeSpent: number;
  timePerQuestion: number[];
  lastGameResults: Record<string, unknown> | null;
  /** RFC 3339 UTC with milliseconds, set by the server. */
  updatedAt: string;
  /** Grows by one per committed change; -1 for local placeholder defaults. */
  version: number;
}

export interface StatsFields {
  xp?: number;
  hearts?: number;
  diamonds?: number;
  level?: number;
  streak?: number;
  maxStreak?: number;
  accuracy?: number;
  completedQuestions?: number;
  correctAnswers?: number;
  wrongAnswers?: number;
  totalQuestions?: number;
  totalTimeSpent?: number;
  /** In a delta: appended (a single number is a one-element array). In __set: replaces. */
  timePerQuestion?: number[] | number;
  lastGameResults?: Record<string, unknown> | null;
}

/** Numbers are added, timePerQuestion appended, lastGameResults replaced; then __set overrides. */
export interface StatsDelta extends StatsFields {
  __set?: StatsFields;
  /** Server-owned; accepted and ignored. */
  userId?: string;
  updatedAt?: string;
  version?: number;
}

/** AsyncStorage-compatible store. */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** AppState-compatible source of 'active' | 'background' | 'inactive'. */
export interface AppStateLike {
  currentState?: string | null;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void } | void;
  removeEventListener?(type: 'change', listener: (state: string) => void): void;
}

export interface NetInfoStateLike {
  isConnected: boolean | null;
  isInternetReachable?: boolean | null;
}

/** NetInfo-compatible network monitor. */
export interface NetInfoLike {
  addEventListener(listener: (state: NetInfoStateLike) => void): (() => void) | { remove(): void };
  fetch?(): Promise<NetInfoStateLike>;
}

export interface Logger {
  debug?(...args: unknown[]): void;
  info?(...args: unknown[]): void;
  warn?(...args: unknown[]): void;
  error?(...args: unknown[]): void;
}

export interface UserDataSyncOptions {
  /** Default: process.env.EXPO_PUBLIC_API_URL. */
  apiUrl?: string;
  /** Default: process.env.EXPO_PUBLIC_SOCKET_URL, else apiUrl. */
  socketUrl?: string;
  /** Async token source (the JWT). Default: storage.getItem(tokenStorageKey). */
  getToken?: () => Promise<string | null | undefined> | string | null | undefined;
  /** A fixed token (tests, scripts). */
  token?: string;
  storage?: KeyValueStorage;
  appState?: AppStateLike;
  netInfo?: NetInfoLike;
  /** Debounce window in ms; default 600. */
  debounceMs?: number;
  /** Backoff start (ms); default 500. */
  reconnectionDelay?: number;
  /** Backoff cap (ms); default 5000. */
  reconnectionDelayMax?: number;
  /** ± fraction of randomization of REST retry delays; default 0. */
  retryJitter?: number;
  ackTimeoutMs?: number;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** presence:ping period while connected; 0 = off. Default 25000. */
  presencePingIntervalMs?: number;
  storageKeyPrefix?: string;
  tokenStorageKey?: string;
  /** false = REST only (no socket). Default true. */
  autoConnect?: boolean;
  /** Extra socket.io-client options. */
  socketOptions?: Record<string, unknown>;
  fetch?: typeof fetch;
  /** socket.io-client's io() or a compatible factory. */
  io?: (url: string, options: Record<string, unknown>) => unknown;
  generateOpId?: () => string;
  logger?: Logger;
}

export type SyncErrorKind = 'refused' | 'transient' | 'auth' | 'offline' | 'storage';

export class SyncError extends Error {
  /** refused: dropped for good; transient/auth/offline: kept and retried; storage: the store failed. */
  kind: SyncErrorKind;
  code?: string;
  status?: number;
  opId?: string;
  delta?: StatsDelta;
  retryAfterMs?: number;
}

export interface PresenceInfo {
  devices?: number;
  serverTime?: string | number;
  rttMs?: number;
}

export interface SyncState {
  userId: string;
  /** Optimistic document: last server document + queued deltas; null until known. */
  userData: StatsDocument | null;
  loading: boolean;
  /** Message of the last error, or null. */
  error: string | null;
  errorDetail: SyncError | Error | null;
  /** Last transient failure of background sync (kept queue, retrying); cleared by the next success. */
  syncError: SyncError | Error | null;
  connected: boolean;
  /** From NetInfo; null when unknown. */
  online: boolean | null;
  /** Queued operations not yet acknowledged. */
  pendingCount: number;
  syncing: boolean;
  lastSyncedAt: number | null;
  presence: PresenceInfo | null;
}

export interface PendingOperation {
  opId: string;
  delta: StatsDelta;
  createdAt: number;
  /** false while its debounce window is still open. */
  sealed: boolean;
}

export interface AckEvent {
  opId: string;
  delta: StatsDelta;
  duplicate: boolean;
  doc?: StatsDocument;
}

export interface StaleEvent {
  doc: Partial<StatsDocument>;
  current: StatsDocument | null;
  source: 'push' | 'pull' | 'ack';
}

export interface UserDataSyncEvents {
  change: SyncState;
  error: SyncError | Error;
  refused: SyncError;
  ack: AckEvent;
  stale: StaleEvent;
  connect: void;
  disconnect: string;
}

export class UserDataSync {
  constructor(userId: string, options?: UserDataSyncOptions);
  readonly userId: string;
  readonly apiUrl: string;
  readonly socketUrl: string;
  readonly connected: boolean;
  start(): Promise<void>;
  /** Resolves with the optimistic document once the delta is persisted in the queue. */
  updateUserStats(delta: StatsDelta): Promise<StatsDocument | null>;
  /** GET the document from the server; resolves with the optimistic document. */
  forcePull(): Promise<StatsDocument | null>;
  /** Sends every queued operation; rejects (entries kept) when a transient failure stopped it. */
  flushQueue(): Promise<{ pending: number }>;
  subscribe(listener: (state: SyncState) => void): () => void;
  on<E extends keyof UserDataSyncEvents>(event: E, listener: (arg: UserDataSyncEvents[E]) => void): () => void;
  getState(): SyncState;
  getUserData(): StatsDocument | null;
  getPendingOperations(): PendingOperation[];
  clearError(): void;
  destroy(): Promise<void>;
}

export function createUserDataSync(userId: string, options?: UserDataSyncOptions): UserDataSync;
export function configureUserDataSync(options: UserDataSyncOptions): UserDataSyncOptions;
export function getUserDataSyncConfig(): UserDataSyncOptions;
export function acquireUserDataSync(userId: string, options?: UserDataSyncOptions): UserDataSync;
export function releaseUserDataSync(service: UserDataSync): void;
export function resetUserDataSyncRegistry(): Promise<void>;
export function createMemoryStorage(): KeyValueStorage;
export function randomOpId(): string;

export const DEFAULTS: Readonly<Required<Pick<UserDataSyncOptions,
  'debounceMs' | 'ackTimeoutMs' | 'requestTimeoutMs' | 'connectTimeoutMs' | 'reconnectionDelay' |
  'reconnectionDelayMax' | 'retryJitter' | 'presencePingIntervalMs' | 'storageKeyPrefix' | 'tokenStorageKey' | 'autoConnect'>>>;

export class Backoff {
  constructor(options?: { min?: number; max?: number; factor?: number; jitter?: number; random?: () => number });
  attempts: number;
  next(): number;
  reset(): void;
}

export function normalizeDelta(delta: StatsDelta): StatsDelta;
export function mergeDeltas(a: StatsDelta, b: StatsDelta): StatsDelta;
export function canMerge(a: StatsDelta | null, b: StatsDelta): boolean;
export function applyDelta(doc: StatsDocument, delta: StatsDelta): StatsDocument;
export function isNewer(incoming: Partial<StatsDocument> | null | undefined, current: Partial<StatsDocument> | null | undefined): boolean;
export function resolveConflict<T extends { updatedAt?: string }>(local: T, incoming: T): T;
export function defaultDocument(userId?: string): StatsDocument;
export const FIELDS: readonly string[];
export const HEARTS_MAX: number;
