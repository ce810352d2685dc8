import { api } from '../api';
import { Empty, ErrorBox, Loading, PageTitle } from '../components';
import { usePoll } from '../hooks';
import { Link, paths } from '../router';

export function Projects() {
  const q = usePoll(() => api.projects(), []);
  return (
    <>
      <PageTitle title="Projects" />
      {q.error && <ErrorBox error={q.error} title="Cannot load projects" />}
      {q.loading && !q.data && <Loading what="projects" />}
      {q.data &&
        (q.data.projects.length === 0 ? (
          <Empty>
            You are not a member of any project yet. A server administrator creates projects (<code>simforge admin create-project NAME</code>) and adds members (<code>simforge admin add-member PROJECT USER ROLE</code>).
          </Empty>
        ) : (
          <ul class="cards" data-testid="projects">
            {q.data.projects.map((p) => (
              <li key={p.name} class="card" data-testid={`project-${p.name}`}>
                <Link href={paths.project(p.name)} class="title" data-testid={`project-link-${p.name}`}>
                  {p.name}
                </Link>
                <span class="muted">
                  {p.studies !== undefined && `${p.studies} ${p.studies === 1 ? 'study' : 'studies'}`}
                  {p.role && ` · ${p.role}`}
                </span>
              </li>
            ))}
          </ul>
        ))}
    </>
  );
}
