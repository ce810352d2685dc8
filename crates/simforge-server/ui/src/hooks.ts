import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Poll<T> {
  data?: T;
  error?: ApiError;
  /** Date.now() of the last successful load. */
  updatedAt?: number;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * Loads `load()` now and whenever `deps` change; then, while `intervalMs` is set
 * (not null) and the tab is visible, again every `intervalMs`. A hidden tab stops
 * polling and reloads as soon as it is visible again. Requests never overlap, and
 * an answer to outdated deps is dropped.
 */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], intervalMs: number | null = null): Poll<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; updatedAt?: number; loading: boolean }>({ loading: true });
  const gen = useRef(0);
  const busy = useRef(false);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(async (g: number) => {
    if (busy.current) return;
    busy.current = true;
    try {
      const data = await loadRef.current();
      if (g === gen.current) setState({ data, error: undefined, updatedAt: Date.now(), loading: false });
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
      if (g === gen.current) setState((s) => ({ ...s, error: err, loading: false }));
    } finally {
      busy.current = false;
    }
  }, []);

  // Reload when the inputs change (drop old data so it is never shown for new inputs).
  useEffect(() => {
    const g = ++gen.current;
    busy.current = false;
    setState({ loading: true });
    run(g);
  }, deps);

  // When polling stops (the thing became final), load once more to get its last state.
  const prevInterval = useRef(intervalMs);
  useEffect(() => {
    const was = prevInterval.current;
    prevInterval.current = intervalMs;
    if (intervalMs === null && was !== null) run(gen.current);
  }, [intervalMs]);

  useEffect(() => {
    if (intervalMs === null) return;
    const tick = () => {
      if (document.visibilityState === 'visible') run(gen.current);
    };
    const id = window.setInterval(tick, intervalMs);
    document.addEventListener('visibilitychange', tick);
    return () => {
      window.clearInterval(id);
      document.removeEventListener('visibilitychange', tick);
    };
  }, [intervalMs, ...deps]);

  const reload = useCallback(() => run(gen.current), []);
  return { ...state, reload };
}

/** Date.now(), refreshed every `ms`. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(id);
  }, [ms]);
  return now;
}

export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · simforge` : 'simforge';
  }, [title]);
}

export interface Fetched<T> {
  data?: T;
  error?: ApiError;
  loading: boolean;
}

/**
 * Loads `load(signal)` whenever `key` changes, aborting the request before;
 * the last data stays (so plots do not blank) while the next loads. `key`
 * undefined: nothing to load.
 */
export function useFetch<T>(key: string | undefined, load: (signal: AbortSignal) => Promise<T>): Fetched<T> {
  // `done`: the key the data or error belongs to; loading until it is the current key.
  const [st, setSt] = useState<{ data?: T; error?: ApiError; done?: string }>({});
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (key === undefined) return;
    const ac = new AbortController();
    loadRef
      .current(ac.signal)
      .then((data) => !ac.signal.aborted && setSt({ data, done: key }))
      .catch((e) => {
        if (ac.signal.aborted) return;
        const err = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
        setSt((s) => ({ ...s, error: err, done: key }));
      });
    return () => ac.abort();
  }, [key]);
  return { data: st.data, error: st.error, loading: key !== undefined && st.done !== key };
}
