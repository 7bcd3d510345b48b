/** A tiny event bus: any 401 from the API is announced here; the auth provider decides what it means. */
type Listener = () => void;
const listeners = new Set<Listener>();

export function onUnauthorized(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function emitUnauthorized(): void {
  for (const fn of listeners) fn();
}
