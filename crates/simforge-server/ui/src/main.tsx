import { type ComponentType, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, canSubmit, type Me, setUnauthorizedHandler } from './api';
import { ErrorBox, Loading, PageTitle } from './components';
import { Link, navigate, parseRoute, paths, useLocation } from './router';
import { Login } from './pages/Login';
import { Projects } from './pages/Projects';
import { Studies } from './pages/Studies';
import { StudyPage } from './pages/Study';
import { RunPage } from './pages/Run';
import { Workers } from './pages/Workers';
import { NewStudy } from './pages/NewStudy';
import './style.css';

type DesignerPage = typeof import('./pages/Designer').Designer;

/** The designer (and its YAML library) loads on first visit, keeping the main bundle small. */
function LazyDesigner({ me }: { me: Me }) {
  const [Page, setPage] = useState<DesignerPage>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    import('./pages/Designer')
      .then((m) => setPage(() => m.Designer))
      .catch(() => setError(new ApiError(0, 'network', 'Cannot load the designer.', 'Reload the page; the server may have been updated.')));
  }, []);
  if (error) return <ErrorBox error={error} />;
  return Page ? <Page me={me} /> : <Loading what="the designer" />;
}

type ExplorePage = typeof import('./pages/Explore').Explore;

/** The results explorer (plots, filters) is its own chunk too, loaded on first visit. */
function LazyExplore({ project, study }: { project: string; study: string }) {
  const [Page, setPage] = useState<ExplorePage>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    import('./pages/Explore')
      .then((m) => setPage(() => m.Explore))
      .catch(() => setError(new ApiError(0, 'network', 'Cannot load the results explorer.', 'Reload the page; the server may have been updated.')));
  }, []);
  if (error) return <ErrorBox error={error} />;
  return Page ? <Page project={project} study={study} /> : <Loading what="the results explorer" />;
}

/** A page in its own chunk, loaded on first visit. `load` must be a module-level constant. */
function Lazy<P extends object>({ load, what, props }: { load: () => Promise<ComponentType<P>>; what: string; props: P }) {
  const [Page, setPage] = useState<ComponentType<P>>();
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    load()
      .then((c) => setPage(() => c))
      .catch(() => setError(new ApiError(0, 'network', `Cannot load ${what}.`, 'Reload the page; the server may have been updated.')));
  }, [load]);
  if (error) return <ErrorBox error={error} />;
  return Page ? <Page {...props} /> : <Loading what={what} />;
}

const loadReports = () => import('./pages/Reports').then((m) => m.Reports);
const loadDatasets = () => import('./pages/Datasets').then((m) => m.Datasets);
const loadAdmin = () => import('./pages/Admin').then((m) => m.Admin);

function loginPath(): string {
  const here = location.pathname + location.search;
  return here.startsWith('/ui') && !here.startsWith(paths.login) ? `${paths.login}?next=${encodeURIComponent(here)}` : paths.login;
}

function Header({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const path = location.pathname;
  const cur = (p: boolean) => (p ? { 'aria-current': 'page' as const } : {});
  return (
    <header class="top">
      <Link href={paths.home} class="brand">
        simforge
      </Link>
      <nav aria-label="Main" class="main-nav">
        <Link href={paths.home} {...cur(path === '/' || path === '/ui' || path.startsWith('/ui/projects') || path.startsWith('/ui/runs'))}>
          Projects
        </Link>
        {!me.local && (
          <Link href={paths.workers} {...cur(path.startsWith(paths.workers))}>
            Workers &amp; queues
          </Link>
        )}
        {!me.local && (
          <Link href={paths.reports} data-testid="nav-reports" {...cur(path.startsWith(paths.reports))}>
            Reports
          </Link>
        )}
        <Link href={paths.designer} {...cur(path.startsWith(paths.designer))}>
          Designer
        </Link>
        {!me.local && me.is_admin && (
          <Link href={paths.admin} data-testid="nav-admin" {...cur(path.startsWith(paths.admin))}>
            Admin
          </Link>
        )}
      </nav>
      <div class="user">
        <span data-testid="user-name" title={me.local ? 'local store, no sign-in' : me.is_admin ? 'server administrator' : undefined}>
          {me.name}
          {me.is_admin ? ' (admin)' : ''}
        </span>
        {!me.local && (
          <button type="button" class="secondary" data-testid="sign-out" onClick={onSignOut}>
            Sign out
          </button>
        )}
      </div>
    </header>
  );
}

function NotInLocal({ what }: { what: string }) {
  return (
    <>
      <PageTitle title={what} />
      <p data-testid="empty">
        {what} need a server (<code>simforge serve</code>); this dashboard runs on a local store. <Link href={paths.home}>Go to the projects</Link>.
      </p>
    </>
  );
}

function App() {
  const pathname = useLocation();
  const route = parseRoute(pathname);
  // undefined: asking /me; null: signed out.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [meError, setMeError] = useState<ApiError>();
  // Local mode (`simforge ui`): there is no sign-in to send anyone to.
  const local = useRef(false);

  const loadMe = () => {
    setMeError(undefined);
    api
      .me()
      .then((m) => {
        local.current = !!m.local;
        setMe(m);
      })
      .catch((e: ApiError) => {
        if (e.status === 401) setMe(null);
        else setMeError(e);
      });
  };

  useEffect(() => {
    setUnauthorizedHandler(() => {
      if (local.current) return;
      setMe(null);
      if (!location.pathname.startsWith(paths.login)) navigate(loginPath(), true);
    });
    loadMe();
  }, []);

  useEffect(() => {
    if (me === null && route.page !== 'login') navigate(loginPath(), true);
  }, [me, route.page]);

  useEffect(() => {
    if (me?.local && route.page === 'login') navigate(paths.home, true);
  }, [me, route.page]);

  if (route.page === 'login' && me?.local) return <main id="main"><Loading /></main>;
  if (route.page === 'login') {
    return (
      <main id="main" class="narrow">
        <Login
          onLoggedIn={(m) => {
            setMe(m);
            const next = new URLSearchParams(location.search).get('next');
            navigate(next && next.startsWith('/ui') && !next.startsWith('//') ? next : paths.home, true);
          }}
        />
      </main>
    );
  }
  if (meError)
    return (
      <main id="main" class="narrow">
        <ErrorBox error={meError} title="Cannot load the dashboard" />
        <button type="button" onClick={loadMe}>
          Try again
        </button>
      </main>
    );
  if (!me) return <main id="main">{me === undefined ? <Loading /> : null}</main>;

  const signOut = async () => {
    try {
      await api.logout();
    } catch {
      // Signed out already, or the server is gone: the sign-in page is right either way.
    }
    setMe(null);
    navigate(paths.login);
  };

  let page;
  switch (route.page) {
    case 'projects':
      page = <Projects />;
      break;
    case 'project':
      page = <Studies project={route.project} me={me} />;
      break;
    case 'study':
      page = <StudyPage project={route.project} study={route.study} local={!!me.local} canEdit={canSubmit(me, route.project)} />;
      break;
    case 'explore':
      page = <LazyExplore project={route.project} study={route.study} />;
      break;
    case 'run':
      page = <RunPage id={route.id} />;
      break;
    case 'workers':
      page = <Workers />;
      break;
    case 'new':
      page = <NewStudy project={route.project} me={me} />;
      break;
    case 'designer':
      page = <LazyDesigner me={me} />;
      break;
    case 'reports':
      page = me.local ? <NotInLocal what="Reports" /> : <Lazy load={loadReports} what="the reports" props={{ me }} />;
      break;
    case 'datasets':
      page = me.local ? <NotInLocal what="Datasets" /> : <Lazy load={loadDatasets} what="the datasets" props={{ me, project: route.project }} />;
      break;
    case 'admin':
      page = me.local ? <NotInLocal what="Administration" /> : <Lazy load={loadAdmin} what="the administration page" props={{ me }} />;
      break;
    default:
      page = (
        <>
          <PageTitle title="Page not found" />
          <p>
            There is no page at <code>{pathname}</code>. <Link href={paths.home}>Go to the projects</Link>.
          </p>
        </>
      );
  }
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header me={me} onSignOut={signOut} />
      <main id="main">{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
