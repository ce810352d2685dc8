import { useState } from 'preact/hooks';
import { api, ApiError, type Me } from '../api';
import { ErrorBox, PageTitle } from '../components';

export function Login({ onLoggedIn }: { onLoggedIn: (me: Me) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(name, password);
      onLoggedIn(await api.me());
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'client', String(err)));
      setBusy(false);
    }
  };

  return (
    <section class="card login">
      <PageTitle title="Sign in to simforge" />
      <form onSubmit={submit} data-testid="login-form" aria-describedby={error ? 'login-error' : undefined}>
        <label for="login-name">User name</label>
        <input id="login-name" name="username" autoComplete="username" required autoFocus value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="login-name" />
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} data-testid="login-password" />
        <div id="login-error" data-testid="login-error">
          {error && <ErrorBox error={error} title="Sign-in failed" />}
        </div>
        <button type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
