// Server administration: users, the caller's API tokens, project members, the audit log.
import { useState } from 'preact/hooks';
import { api, ApiError, type CreatedToken, type Me } from '../api';
import { Empty, ErrorBox, Loading, PageTitle } from '../components';
import { fmtTime } from '../format';
import { usePoll } from '../hooks';

const SCOPES = ['read', 'submit', 'admin', 'worker'] as const;
const ROLES = ['viewer', 'member', 'admin'] as const;
const AUDIT_PAGE = 50;

const toErr = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));

/** Runs an action, keeping its busy flag and error; returns whether it worked. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      return true;
    } catch (e) {
      setError(toErr(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

function Users({ me }: { me: Me }) {
  const users = usePoll(() => api.users(), []);
  const act = useAction();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [created, setCreated] = useState<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    setCreated(undefined);
    if (await act.run(() => api.createUser({ name, password: password || undefined, admin }))) {
      setCreated(name);
      setName('');
      setPassword('');
      setAdmin(false);
      users.reload();
    }
  };
  const toggle = (n: string, body: { admin?: boolean; disabled?: boolean }) => act.run(() => api.updateUser(n, body)).then((ok) => {
      if (ok) users.reload();
    });
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      {users.error && !users.data && <ErrorBox error={users.error} title="Cannot load the users" />}
      {users.loading && !users.data && <Loading what="users" />}
      {users.data && users.data.users.length === 0 && <Empty>No users.</Empty>}
      {users.data && users.data.users.length > 0 && (
        <div class="table-wrap">
          <table data-testid="users-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Server admin</th>
                <th scope="col">Disabled</th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((u) => (
                <tr key={u.name} data-testid={`user-row-${u.name}`}>
                  <th scope="row">{u.name}</th>
                  <td>
                    <label class="inline">
                      <input type="checkbox" checked={u.is_admin} disabled={act.busy || u.name === me.name} onChange={() => toggle(u.name, { admin: !u.is_admin })} />
                      <span class="sr-only">server administrator</span>
                      {u.is_admin ? 'yes' : 'no'}
                    </label>
                  </td>
                  <td>
                    <label class="inline">
                      <input type="checkbox" checked={u.disabled} disabled={act.busy || u.name === me.name} onChange={() => toggle(u.name, { disabled: !u.disabled })} />
                      <span class="sr-only">disabled</span>
                      {u.disabled ? 'yes' : 'no'}
                    </label>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>New user</h3>
      <form class="form-row" onSubmit={create}>
        <label>
          Name
          <input type="text" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,63}" value={name} data-testid="user-create-name" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Password (10+ characters)
          <input type="password" minLength={10} autoComplete="new-password" value={password} data-testid="user-create-password" onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label class="inline">
          <input type="checkbox" checked={admin} data-testid="user-create-admin" onChange={(e) => setAdmin(e.currentTarget.checked)} />
          server administrator
        </label>
        <button type="submit" data-testid="user-create" disabled={act.busy || !name}>
          Create user
        </button>
      </form>
      {created && (
        <p class="ok-note" role="status">
          Created user {created}.
        </p>
      )}
      {act.error && <ErrorBox error={act.error} />}
    </section>
  );
}

function Tokens({ me }: { me: Me }) {
  const tokens = usePoll(() => api.tokens(), []);
  const act = useAction();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read']);
  const [days, setDays] = useState('90');
  const [secret, setSecret] = useState<CreatedToken>();
  const [copied, setCopied] = useState(false);
  const [showRevoked, setShowRevoked] = useState(false);
  // A token never carries a scope the caller's session lacks.
  const allowed = SCOPES.filter((s) => (me.scopes ?? []).includes(s) || (s === 'worker' && me.is_admin));
  const create = async (e: Event) => {
    e.preventDefault();
    setCopied(false);
    const d = Number(days);
    let out: CreatedToken | undefined;
    if (await act.run(async () => (out = await api.createToken({ name, scopes, expires_in_days: days && d > 0 ? d : undefined })))) {
      setSecret(out);
      setName('');
      tokens.reload();
    }
  };
  const copy = async () => {
    if (!secret) return;
    try {
      await navigator.clipboard.writeText(secret.token);
      setCopied(true);
    } catch {
      // No clipboard (plain http, permissions): select the text instead so Ctrl+C works.
      const el = document.querySelector('[data-testid="token-secret"]');
      if (el) window.getSelection()?.selectAllChildren(el);
    }
  };
  const list = (tokens.data?.tokens ?? []).filter((t) => showRevoked || !t.revoked);
  return (
    <section aria-labelledby="tokens-h">
      <h2 id="tokens-h">Your API tokens</h2>
      <form class="form-row" onSubmit={create}>
        <label>
          Name
          <input type="text" required value={name} data-testid="token-name" onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <fieldset class="form-row" style={{ margin: 0, border: 0, padding: 0 }}>
          <legend class="sr-only">Scopes</legend>
          {allowed.map((s) => (
            <label key={s} class="inline">
              <input
                type="checkbox"
                data-testid={`token-scope-${s}`}
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />
              {s}
            </label>
          ))}
        </fieldset>
        <label>
          Expires in (days, empty: never)
          <input type="number" min="1" step="1" value={days} data-testid="token-days" onInput={(e) => setDays(e.currentTarget.value)} />
        </label>
        <button type="submit" data-testid="token-create" disabled={act.busy || !name || scopes.length === 0}>
          Create token
        </button>
      </form>
      {secret && (
        <div class="notice" role="status">
          <p>
            Token <strong>{secret.name}</strong> ({secret.scopes.join(', ')}). Copy it now: it is not shown again.
          </p>
          <p>
            <code class="secret" data-testid="token-secret">
              {secret.token}
            </code>{' '}
            <button type="button" class="tiny" data-testid="token-copy" onClick={copy}>
              {copied ? 'Copied' : 'Copy'}
            </button>{' '}
            <button type="button" class="tiny secondary" onClick={() => setSecret(undefined)}>
              Done
            </button>
          </p>
        </div>
      )}
      {act.error && <ErrorBox error={act.error} />}
      {tokens.error && !tokens.data && <ErrorBox error={tokens.error} title="Cannot load the tokens" />}
      {tokens.loading && !tokens.data && <Loading what="tokens" />}
      {tokens.data && (
        <label class="inline small">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.currentTarget.checked)} /> show revoked and expired
        </label>
      )}
      {tokens.data && list.length === 0 && <Empty testid="tokens-empty">No API tokens.</Empty>}
      {tokens.data && list.length > 0 && (
        <div class="table-wrap">
          <table data-testid="tokens-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.id} data-testid={`token-row-${t.id}`}>
                  <th scope="row">{t.name}</th>
                  <td>{t.kind}</td>
                  <td>
                    <code>{t.prefix}…</code>
                  </td>
                  <td>{t.scopes.join(', ')}</td>
                  <td>{fmtTime(t.created_at)}</td>
                  <td>{t.expires_at ? fmtTime(t.expires_at) : 'never'}</td>
                  <td>{fmtTime(t.last_used_at)}</td>
                  <td>
                    {t.revoked ? (
                      <span class="muted">revoked</span>
                    ) : (
                      <button
                        type="button"
                        class="tiny secondary"
                        data-testid={`token-revoke-${t.id}`}
                        disabled={act.busy}
                        onClick={() => {
                          if (t.kind === 'session' && !confirm(`Revoke the session token ${t.name}? If it is this browser's, you will be signed out.`)) return;
                          act.run(() => api.revokeToken(t.id)).then((ok) => {
                            if (ok) tokens.reload();
                          });
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Members() {
  const projects = usePoll(() => api.projects(), []);
  const [project, setProject] = useState('');
  const [reload, setReload] = useState(0);
  const current = project || projects.data?.projects[0]?.name || '';
  const members = usePoll(() => (current ? api.members(current) : Promise.resolve({ members: [] })), [current, reload]);
  const act = useAction();
  const [user, setUser] = useState('');
  const [role, setRole] = useState<string>('member');
  const done = (ok: boolean) => {
    if (ok) setReload((n) => n + 1);
  };
  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h">Project members</h2>
      {projects.error && !projects.data && <ErrorBox error={projects.error} title="Cannot load the projects" />}
      {projects.data && projects.data.projects.length === 0 && <Empty>No projects.</Empty>}
      {projects.data && projects.data.projects.length > 0 && (
        <>
          <label>
            Project{' '}
            <select value={current} data-testid="members-project" onChange={(e) => setProject(e.currentTarget.value)}>
              {projects.data.projects.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          {members.error && !members.data && <ErrorBox error={members.error} title="Cannot load the members" />}
          {members.loading && !members.data && <Loading what="members" />}
          {members.data && members.data.members.length === 0 && <Empty testid="members-empty">No members.</Empty>}
          {members.data && members.data.members.length > 0 && (
            <div class="table-wrap">
              <table data-testid="members-table">
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Role</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {members.data.members.map((m) => (
                    <tr key={m.user} data-testid={`member-row-${m.user}`}>
                      <th scope="row">{m.user}</th>
                      <td>
                        <select
                          aria-label={`Role of ${m.user}`}
                          value={m.role}
                          disabled={act.busy}
                          data-testid={`member-role-${m.user}`}
                          onChange={(e) => {
                            const r = e.currentTarget.value;
                            act.run(() => api.setMember(current, m.user, r)).then(done);
                          }}
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      </td>
                      <td>
                        <button
                          type="button"
                          class="tiny secondary"
                          data-testid={`member-remove-${m.user}`}
                          disabled={act.busy}
                          onClick={() => confirm(`Remove ${m.user} from ${current}?`) && act.run(() => api.removeMember(current, m.user)).then(done)}
                        >
                          Remove
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <form
            class="form-row"
            onSubmit={(e) => {
              e.preventDefault();
              act.run(() => api.setMember(current, user, role)).then((ok) => {
                if (ok) setUser('');
                done(ok);
              });
            }}
          >
            <label>
              User
              <input type="text" required value={user} data-testid="member-add-user" onInput={(e) => setUser(e.currentTarget.value)} />
            </label>
            <label>
              Role
              <select value={role} data-testid="member-add-role" onChange={(e) => setRole(e.currentTarget.value)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" data-testid="member-add" disabled={act.busy || !user || !current}>
              Add or set role
            </button>
          </form>
          {act.error && <ErrorBox error={act.error} />}
        </>
      )}
    </section>
  );
}

function Audit() {
  const [draft, setDraft] = useState({ user: '', action: '', since: '' });
  const [filter, setFilter] = useState(draft);
  const [offset, setOffset] = useState(0);
  // <input type="datetime-local"> gives local time without a zone; the API wants RFC 3339.
  const since = filter.since ? new Date(filter.since).toISOString() : undefined;
  const log = usePoll(() => api.audit({ user: filter.user || undefined, action: filter.action || undefined, since, limit: AUDIT_PAGE, offset }), [filter.user, filter.action, since, offset]);
  const entries = log.data?.entries;
  return (
    <section aria-labelledby="audit-h">
      <h2 id="audit-h">Audit log</h2>
      <form
        class="form-row"
        onSubmit={(e) => {
          e.preventDefault();
          setOffset(0);
          setFilter(draft);
        }}
      >
        <label>
          User
          <input type="text" value={draft.user} data-testid="audit-user" onInput={(e) => setDraft({ ...draft, user: e.currentTarget.value })} />
        </label>
        <label>
          Action
          <input type="text" value={draft.action} placeholder="e.g. login, dataset_upload" data-testid="audit-action" onInput={(e) => setDraft({ ...draft, action: e.currentTarget.value })} />
        </label>
        <label>
          Since
          <input type="datetime-local" value={draft.since} data-testid="audit-since" onInput={(e) => setDraft({ ...draft, since: e.currentTarget.value })} />
        </label>
        <button type="submit" data-testid="audit-apply">
          Filter
        </button>
      </form>
      {log.error && <ErrorBox error={log.error} title="Cannot load the audit log" />}
      {log.loading && !entries && <Loading what="the audit log" />}
      {entries && entries.length === 0 && offset === 0 && <Empty testid="audit-empty">No audit entries match.</Empty>}
      {entries && (entries.length > 0 || offset > 0) && (
        <>
          <div class="table-wrap">
            <table data-testid="audit-table">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">User</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Detail</th>
                  <th scope="col">Address</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((a) => (
                  <tr key={a.id} data-testid={`audit-row-${a.id}`}>
                    <td title={a.at}>{fmtTime(a.at)}</td>
                    <td>{a.user ?? '—'}</td>
                    <td>
                      <code>{a.action}</code>
                    </td>
                    <td>{a.target}</td>
                    <td>
                      <code class="wrap small">{a.detail && Object.keys(a.detail).length ? JSON.stringify(a.detail) : ''}</code>
                    </td>
                    <td>{a.address ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="pager">
            <button type="button" class="secondary" data-testid="audit-prev" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - AUDIT_PAGE))}>
              Newer
            </button>
            <span class="muted">{entries.length === 0 ? 'no more entries' : `entries ${offset + 1}–${offset + entries.length}`}</span>
            <button type="button" class="secondary" data-testid="audit-next" disabled={entries.length < AUDIT_PAGE} onClick={() => setOffset(offset + AUDIT_PAGE)}>
              Older
            </button>
          </div>
        </>
      )}
    </section>
  );
}

export function Admin({ me }: { me: Me }) {
  return (
    <>
      <PageTitle title="Administration" />
      {!me.is_admin && <p class="notice">You are not a server administrator: only your own tokens can be managed here.</p>}
      {me.is_admin && <Users me={me} />}
      <Tokens me={me} />
      {me.is_admin && <Members />}
      {me.is_admin && <Audit />}
    </>
  );
}
