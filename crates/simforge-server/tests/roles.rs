//! The full authorisation matrix: every endpoint × every kind of caller
//! (server admin, project admin, member, viewer, a member of another project,
//! a worker token, a read-only token, anonymous), against the real server.
//! For each endpoint the set of callers allowed is asserted exactly: allowed
//! callers get 2xx, everyone else 401, 403 or 404. Dataset downloads take no
//! token (the link's signature is the permission): a valid link works for
//! everyone, a missing, bad, tampered or expired one for no one.

mod common;

use std::collections::BTreeSet;

use common::{Http, TestServer, branin_study, pg_url};
use serde_json::{Value, json};

const CALLERS: &[&str] = &[
    "root",
    "padmin",
    "member",
    "viewer",
    "outsider",
    "worker",
    "readonly",
    "anonymous",
];

struct World {
    server: TestServer,
    http: Http,
    tokens: std::collections::HashMap<&'static str, Option<String>>,
}

impl World {
    fn token(&self, who: &str) -> Option<&str> {
        self.tokens.get(who).and_then(|t| t.as_deref())
    }

    /// Sends `body` raw with extra headers.
    fn send(
        &self,
        who: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        self.http.send(method, path, self.token(who), headers, body)
    }

    /// Uploads a small CSV as the next version of `project`'s dataset `name`.
    fn upload(&self, who: &str, project: &str, name: &str) -> (u16, Value) {
        self.send(
            who,
            "POST",
            &format!("/api/v1/projects/{project}/datasets/{name}?file_name=table.csv"),
            &[("Content-Type", "text/csv")],
            format!("a,b\n1,{name}\n2,{who}\n").as_bytes(),
        )
    }

    /// Registers `name` in `project` for ingestion.
    fn register(&self, who: &str, project: &str, name: &str) -> (u16, Value) {
        self.http.call(
            "PUT",
            &format!("/api/v1/projects/{project}/studies/{name}/source"),
            self.token(who),
            Some(&json!({"source": branin_study(name, 2)})),
        )
    }

    /// Posts an empty batch keyed `key` to `project`'s study `name`.
    fn batch(&self, who: &str, project: &str, name: &str, key: &str) -> (u16, Value) {
        self.send(
            who,
            "POST",
            &format!("/api/v1/projects/{project}/studies/{name}/ingest"),
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            br#"{"records": []}"#,
        )
    }

    /// A download link for version 1 of `project`'s dataset `name`.
    fn link(&self, who: &str, project: &str, name: &str, expires_in: u64) -> String {
        let (s, b) = self.http.call(
            "POST",
            &format!(
                "/api/v1/projects/{project}/datasets/{name}/versions/1/link?expires_in={expires_in}"
            ),
            self.token(who),
            Some(&json!({})),
        );
        assert_eq!(s, 200, "setup: {who} signs a link to {project}/{name}: {b}");
        b["path"].as_str().unwrap().to_string()
    }

    /// Submits `name` (with an objective) as the member and finishes its
    /// runs with synthetic results, so that its analyses have data.
    fn finished_objective_study(&self, name: &str) {
        use simforge_store::{AttemptRecord, RunFilter, Store, Update};
        let source = format!(
            "{}metrics: [y]\nobjective: {{minimize: y}}\n",
            branin_study(name, 6)
        );
        let (s, b) = self.http.call(
            "POST",
            "/api/v1/projects/p1/studies",
            self.token("member"),
            Some(&json!({"source": source})),
        );
        assert_eq!(s, 201, "setup: member submits {name}: {b}");
        let spec_hash = b["spec_hash"].as_str().unwrap().to_string();
        let mut c = self.server.state.db.get().unwrap();
        let key = format!("p1/{name}");
        let runs = c.runs(&key, &RunFilter::default()).unwrap();
        let updates: Vec<Update> = runs
            .iter()
            .map(|r| {
                let x1 = r.params["x1"].as_f64().unwrap();
                let x2 = r.params["x2"].as_f64().unwrap();
                let mut metrics = serde_json::Map::new();
                metrics.insert("y".into(), json!(x1 * 2.0 + x2));
                Update::Finished {
                    record: AttemptRecord {
                        run_id: r.id.clone(),
                        attempt: 1,
                        state: simforge_core::RunState::Succeeded,
                        started_at: "2026-11-29T10:00:00.000Z".into(),
                        finished_at: "2026-11-29T10:00:00.250Z".into(),
                        duration_s: 0.25,
                        exit_code: Some(0),
                        signal: None,
                        reason: None,
                        host: "laptop".into(),
                        max_rss_kb: None,
                        metrics,
                        spec_hash: spec_hash.clone(),
                    },
                    run_state: simforge_core::RunState::Succeeded,
                }
            })
            .collect();
        c.apply(&updates).unwrap();
    }

    fn submit(&self, who: &str, name: &str) {
        let (s, b) = self.http.call(
            "POST",
            "/api/v1/projects/p1/studies",
            self.token(who),
            Some(&json!({"source": branin_study(name, 2)})),
        );
        assert_eq!(s, 201, "setup: {who} submits {name}: {b}");
    }
}

fn world(pg: &str) -> World {
    let server = TestServer::start(pg, 30.0);
    let http = Http::new(&server.url);
    let db = &server.state.db;
    let mut tokens = std::collections::HashMap::new();
    tokens.insert("root", Some(server.user("root", true, &["admin"])));
    simforge_server::admin::create_project(db, "p1").unwrap();
    simforge_server::admin::create_project(db, "p2").unwrap();
    for (who, project, role) in [
        ("padmin", "p1", "admin"),
        ("member", "p1", "member"),
        ("viewer", "p1", "viewer"),
        ("outsider", "p2", "admin"),
        ("readonly", "p1", "admin"),
    ] {
        let scopes: &[&str] = if who == "readonly" {
            &["read"]
        } else {
            &["admin"]
        };
        tokens.insert(who, Some(server.user(who, false, scopes)));
        simforge_server::admin::set_member(db, project, who, role).unwrap();
    }
    // A worker account is a project admin too: its token's scope still
    // grants only the worker protocol.
    tokens.insert("worker", Some(server.user("worker", false, &["worker"])));
    simforge_server::admin::set_member(db, "p1", "worker", "admin").unwrap();
    tokens.insert("anonymous", None);
    World {
        server,
        http,
        tokens,
    }
}

/// How to call an endpoint as a caller.
type Call = Box<dyn Fn(&World, &str) -> (u16, Value)>;
/// What to restore after a call succeeded.
type Restore = Box<dyn Fn(&World, &str)>;

/// One endpoint: how to call it as `who`, and what to restore after a success.
struct Case {
    name: &'static str,
    call: Call,
    after_success: Restore,
    allowed: &'static [&'static str],
}

/// A design small enough to simulate in milliseconds.
const TINY_DESIGN: &str = "name: tiny\nhorizon: 1000\nreplications: 1\ncomponents:\n  c: {type: source, arrivals: {process: poisson, rate: 10}, to: s}\n  s: {type: service, service_time: {dist: exponential, mean: 1}}\n";

/// The id of the first run of `study` in p1 (read as root).
fn first_run(w: &World, study: &str) -> String {
    let (_, runs) = w.http.call(
        "GET",
        &format!("/api/v1/projects/p1/studies/{study}/runs?limit=1"),
        w.token("root"),
        None,
    );
    runs["runs"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a run of {study}: {runs}"))
        .to_string()
}

fn case(
    name: &'static str,
    allowed: &'static [&'static str],
    call: impl Fn(&World, &str) -> (u16, Value) + 'static,
) -> Case {
    Case {
        name,
        call: Box::new(call),
        after_success: Box::new(|_, _| {}),
        allowed,
    }
}

const READERS: &[&str] = &["root", "padmin", "member", "viewer", "readonly"];
const SUBMITTERS: &[&str] = &["root", "padmin", "member"];
const ADMINS: &[&str] = &["root", "padmin"];
const ROOT: &[&str] = &["root"];
const EVERY_USER: &[&str] = &["root", "padmin", "member", "viewer", "outsider", "readonly"];
const NOBODY: &[&str] = &[];

fn get(path: &'static str) -> impl Fn(&World, &str) -> (u16, Value) {
    move |w, who| w.http.call("GET", path, w.token(who), None)
}

/// The links the matrix downloads through, made in setup.
struct Links {
    /// Version 1 of p1's `d-member`, signed by the member.
    own: String,
    /// Version 1 of p2's `d-outsider`, signed by the outsider.
    other: String,
}

/// Ingestion, datasets, reports and the ETL.
fn feature_cases(links: &Links) -> Vec<Case> {
    let (own, other) = (links.own.clone(), links.other.clone());
    let tampered = tamper_sig(&links.own);
    vec![
        // Ingestion.
        case("register a study for ingestion", SUBMITTERS, |w, who| {
            w.register(who, "p1", &format!("x-{who}"))
        }),
        case("register own external study again", SUBMITTERS, |w, who| {
            w.register(who, "p1", "ext-member")
        }),
        // Re-planning another's study is the owner's or a project admin's.
        case(
            "register another's external study again",
            ADMINS,
            |w, who| w.register(who, "p1", "ext-padmin"),
        ),
        case("post a batch", SUBMITTERS, |w, who| {
            w.batch(who, "p1", "ext-member", &format!("roles-{who}-1"))
        }),
        case(
            "post a batch to another project's study",
            &["root", "outsider"],
            |w, who| w.batch(who, "p2", "ext-outsider", &format!("roles-{who}-2")),
        ),
        case(
            "read the quarantine",
            READERS,
            get("/api/v1/projects/p1/studies/ext-member/quarantine"),
        ),
        case(
            "list applied batches",
            READERS,
            get("/api/v1/projects/p1/studies/ext-member/batches"),
        ),
        case(
            "list another project's batches",
            &["root", "outsider"],
            get("/api/v1/projects/p2/studies/ext-outsider/batches"),
        ),
        // Datasets.
        case(
            "list datasets",
            READERS,
            get("/api/v1/projects/p1/datasets"),
        ),
        case(
            "list another project's datasets",
            &["root", "outsider"],
            get("/api/v1/projects/p2/datasets"),
        ),
        case(
            "list a dataset's versions",
            READERS,
            get("/api/v1/projects/p1/datasets/d-member"),
        ),
        case(
            "show a dataset version",
            READERS,
            get("/api/v1/projects/p1/datasets/d-member/versions/1"),
        ),
        case(
            "show the latest dataset version",
            READERS,
            get("/api/v1/projects/p1/datasets/d-member/versions/latest"),
        ),
        case(
            "show another project's dataset version",
            &["root", "outsider"],
            get("/api/v1/projects/p2/datasets/d-outsider/versions/1"),
        ),
        case("upload a dataset", SUBMITTERS, |w, who| {
            w.upload(who, "p1", &format!("up-{who}"))
        }),
        case("upload a new version", SUBMITTERS, |w, who| {
            w.upload(who, "p1", "d-member")
        }),
        case(
            "upload to another project",
            &["root", "outsider"],
            |w, who| w.upload(who, "p2", &format!("up-{who}")),
        ),
        // Whoever may read a dataset may hand out a link to it.
        case("sign a download link", READERS, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/projects/p1/datasets/d-member/versions/1/link",
                w.token(who),
                Some(&json!({})),
            )
        }),
        case(
            "sign a link in another project",
            &["root", "outsider"],
            |w, who| {
                w.http.call(
                    "POST",
                    "/api/v1/projects/p2/datasets/d-outsider/versions/1/link?expires_in=60",
                    w.token(who),
                    Some(&json!({})),
                )
            },
        ),
        // The signature is the permission: a token neither helps nor hurts.
        case("download through a link", CALLERS, move |w, who| {
            w.http.call("GET", &own, w.token(who), None)
        }),
        case(
            "download through another project's link",
            CALLERS,
            move |w, who| w.http.call("GET", &other, w.token(who), None),
        ),
        case("download with a bad signature", NOBODY, move |w, who| {
            w.http.call("GET", &tampered, w.token(who), None)
        }),
        // Reports and the ETL.
        case(
            "study report",
            READERS,
            get("/api/v1/reports/studies/p1/s-member"),
        ),
        case(
            "external study report",
            READERS,
            get("/api/v1/reports/studies/p1/ext-member"),
        ),
        case(
            "another project's study report",
            &["root", "outsider"],
            get("/api/v1/reports/studies/p2/ext-outsider"),
        ),
        case(
            "simulator report",
            EVERY_USER,
            get("/api/v1/reports/simulators"),
        ),
        case("host report", EVERY_USER, get("/api/v1/reports/hosts")),
        case("read the ETL log", ROOT, get("/api/v1/etl/runs")),
        case("read the ETL rejects", ROOT, get("/api/v1/etl/rejects")),
        case("run the ETL", ROOT, |w, who| {
            w.http
                .call("POST", "/api/v1/etl/run", w.token(who), Some(&json!({})))
        }),
    ]
}

/// `link` with the last hex digit of its signature changed.
fn tamper_sig(link: &str) -> String {
    let last = link.chars().last().unwrap();
    let other = if last == '0' { '1' } else { '0' };
    format!("{}{other}", &link[..link.len() - 1])
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        case("list projects", EVERY_USER, get("/api/v1/projects")),
        case(
            "list studies (all visible)",
            EVERY_USER,
            get("/api/v1/studies"),
        ),
        case(
            "list studies of p1",
            READERS,
            get("/api/v1/projects/p1/studies"),
        ),
        case(
            "show a study",
            READERS,
            get("/api/v1/projects/p1/studies/s-member"),
        ),
        case(
            "list runs",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/runs"),
        ),
        case(
            "results as JSON",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/results"),
        ),
        case(
            "results as CSV",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/results?format=csv"),
        ),
        case(
            "results as Parquet",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/results?format=parquet"),
        ),
        case(
            "results as one JSON array",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/results?format=json-array"),
        ),
        case("show a run", READERS, |w, who| {
            let id = first_run(w, "s-member");
            w.http
                .call("GET", &format!("/api/v1/runs/{id}"), w.token(who), None)
        }),
        case("a run's logs", READERS, |w, who| {
            let id = first_run(w, "s-member");
            w.http.call(
                "GET",
                &format!("/api/v1/runs/{id}/logs"),
                w.token(who),
                None,
            )
        }),
        case("a run's artifacts", READERS, |w, who| {
            let id = first_run(w, "s-member");
            w.http.call(
                "GET",
                &format!("/api/v1/runs/{id}/artifacts"),
                w.token(who),
                None,
            )
        }),
        // Uploading needs a lease held now: nobody attaches files to a run
        // they are not executing (workers get 404, everyone else 403).
        case("upload an artifact without a lease", NOBODY, |w, who| {
            w.send(
                who,
                "PUT",
                "/api/v1/workers/leases/not-a-lease/artifacts?attempt=1&path=out.txt",
                &[],
                b"x",
            )
        }),
        case("check a study", EVERY_USER, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/check",
                w.token(who),
                Some(&json!({"source": branin_study("checked", 2)})),
            )
        }),
        // Simulating costs CPU: members of some project (the outsider is one
        // in p2) and server admins; not viewers, not read-only tokens.
        case(
            "simulate a design",
            &["root", "padmin", "member", "outsider"],
            |w, who| {
                w.http.call(
                    "POST",
                    "/api/v1/sysdesign/simulate",
                    w.token(who),
                    Some(&json!({"topology": TINY_DESIGN})),
                )
            },
        ),
        case("export a design", EVERY_USER, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/sysdesign/export?format=compose",
                w.token(who),
                Some(&json!({"topology": TINY_DESIGN})),
            )
        }),
        case(
            "explore: columns",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/explore/columns"),
        ),
        case(
            "explore: a sample",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/explore/sample?n=10"),
        ),
        case(
            "explore: a histogram",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/explore/histogram?col=param.x1"),
        ),
        case(
            "explore: sorted runs",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/explore/runs?sort=param.x1&order=desc"),
        ),
        case(
            "a study's file",
            READERS,
            get("/api/v1/projects/p1/studies/s-member/source"),
        ),
        case(
            "explore: convergence",
            READERS,
            get("/api/v1/projects/p1/studies/s-objective/explore/convergence"),
        ),
        case(
            "explore: sensitivity",
            READERS,
            get("/api/v1/projects/p1/studies/s-objective/explore/sensitivity?metric=y"),
        ),
        case("list members", READERS, get("/api/v1/projects/p1/members")),
        case("search runs", EVERY_USER, get("/api/v1/runs?project=p1")),
        case("list workers", EVERY_USER, get("/api/v1/workers")),
        case("list queues", EVERY_USER, get("/api/v1/queues")),
        case(
            "who am I",
            &[
                "root", "padmin", "member", "viewer", "outsider", "worker", "readonly",
            ],
            get("/api/v1/me"),
        ),
        case(
            "list own tokens",
            &[
                "root", "padmin", "member", "viewer", "outsider", "worker", "readonly",
            ],
            get("/api/v1/tokens"),
        ),
        case("list users", ROOT, get("/api/v1/users")),
        case("read the audit log", ROOT, get("/api/v1/audit")),
        case("submit a study", SUBMITTERS, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/projects/p1/studies",
                w.token(who),
                Some(&json!({"source": branin_study(&format!("new-{who}"), 2)})),
            )
        }),
        case("set a member's role", ADMINS, |w, who| {
            w.http.call(
                "PUT",
                "/api/v1/projects/p1/members/outsider",
                w.token(who),
                Some(&json!({"role": "viewer"})),
            )
        }),
        case("create a project", ROOT, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/projects",
                w.token(who),
                Some(&json!({"name": format!("proj-{who}")})),
            )
        }),
        case("create a user", ROOT, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/users",
                w.token(who),
                Some(&json!({"name": format!("u-{who}"), "password": "a long password 123"})),
            )
        }),
        case("disable a user", ROOT, |w, who| {
            w.http.call(
                "PATCH",
                "/api/v1/users/viewer",
                w.token(who),
                Some(&json!({"disabled": false})),
            )
        }),
        case("create a worker token", ROOT, |w, who| {
            w.http.call(
                "POST",
                "/api/v1/tokens",
                w.token(who),
                Some(&json!({"name": "w", "scopes": ["worker"], "user": "worker"})),
            )
        }),
        case("worker sync", &["worker"], |w, who| {
            w.http.call(
                "POST",
                "/api/v1/workers/sync",
                w.token(who),
                Some(&json!({"worker": format!("x-{who}"), "host": "h", "queues": ["none"], "slots": 1,
                             "version": "t", "want": 0, "held": [], "events": [], "leaving": false})),
            )
        }),
        case(
            "worker study source",
            &["worker"],
            get("/api/v1/workers/studies/p1%2Fs-member"),
        ),
    ];
    // Cancelling one's own study (the member owns s-member) and another's (s-padmin).
    let mut own = case("cancel own study", SUBMITTERS, |w, who| {
        w.http.call(
            "POST",
            "/api/v1/projects/p1/studies/s-member/cancel",
            w.token(who),
            Some(&json!({})),
        )
    });
    own.after_success = Box::new(|w, _| w.submit("member", "s-member"));
    v.push(own);
    let mut other = case("cancel another's study", ADMINS, |w, who| {
        w.http.call(
            "POST",
            "/api/v1/projects/p1/studies/s-padmin/cancel",
            w.token(who),
            Some(&json!({})),
        )
    });
    other.after_success = Box::new(|w, _| w.submit("padmin", "s-padmin"));
    v.push(other);
    let mut del = case("delete a study", ADMINS, |w, who| {
        w.http.call(
            "DELETE",
            "/api/v1/projects/p1/studies/s-padmin",
            w.token(who),
            None,
        )
    });
    del.after_success = Box::new(|w, _| w.submit("padmin", "s-padmin"));
    v.push(del);
    v
}

#[test]
fn every_endpoint_allows_exactly_its_callers() {
    let Some(pg) = pg_url() else { return };
    let w = world(&pg);
    w.submit("member", "s-member");
    w.submit("padmin", "s-padmin");
    w.finished_objective_study("s-objective");
    for (who, project, name) in [
        ("member", "p1", "ext-member"),
        ("padmin", "p1", "ext-padmin"),
        ("outsider", "p2", "ext-outsider"),
    ] {
        let (s, b) = w.register(who, project, name);
        assert_eq!(s, 200, "setup: {who} registers {project}/{name}: {b}");
    }
    for (who, project) in [("member", "p1"), ("outsider", "p2")] {
        let (s, b) = w.upload(who, project, &format!("d-{who}"));
        assert_eq!(s, 201, "setup: {who} uploads to {project}: {b}");
    }
    let links = Links {
        own: w.link("member", "p1", "d-member", 3600),
        other: w.link("outsider", "p2", "d-outsider", 3600),
    };
    let mut failures = Vec::new();
    let mut all = feature_cases(&links);
    all.extend(cases());
    for c in all {
        let mut allowed = BTreeSet::new();
        for who in CALLERS {
            let (status, body) = (c.call)(&w, who);
            if (200..300).contains(&status) {
                allowed.insert(*who);
                (c.after_success)(&w, who);
            } else {
                assert!(
                    [401, 403, 404].contains(&status),
                    "{}: {who} got {status} (expected success or 401/403/404): {body}",
                    c.name
                );
                assert!(
                    body["error"]["code"].is_string(),
                    "{}: {who}: error body {body}",
                    c.name
                );
            }
        }
        let expected: BTreeSet<&str> = c.allowed.iter().copied().collect();
        if allowed != expected {
            failures.push(format!(
                "{}: allowed {allowed:?}, expected {expected:?}",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every mutation is in the audit log with who did it.
    let (_, log) = w
        .http
        .call("GET", "/api/v1/audit?limit=1000", w.token("root"), None);
    let entries = log["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("audit: {log}"));
    for action in [
        "study_submit",
        "study_cancel",
        "study_delete",
        "member_set",
        "project_create",
        "user_create",
        "user_update",
        "token_create",
        "dataset_upload",
        "dataset_link",
        "etl_run",
    ] {
        assert!(
            entries.iter().any(|e| e["action"] == action),
            "no `{action}` in the audit log"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "study_cancel" && e["user"] == "member")
    );
    drop(w.server);
}

#[test]
fn a_download_link_is_its_own_permission() {
    let Some(pg) = pg_url() else { return };
    let w = world(&pg);
    let (s, b) = w.upload("member", "p1", "d-member");
    assert_eq!(s, 201, "{b}");
    let good = w.link("viewer", "p1", "d-member", 3600);
    let short = w.link("viewer", "p1", "d-member", 1);
    let (path, query) = good.split_once('?').unwrap();
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let (exp, name, sig) = (param("exp"), param("name"), param("sig"));
    let sha = path.rsplit('/').next().unwrap().to_string();
    // The same content under another name has its own signature.
    let zeros = "0".repeat(64);
    let bad: Vec<(&str, String, u16)> = vec![
        ("no query", path.to_string(), 400),
        ("no signature", format!("{path}?exp={exp}&name={name}"), 400),
        ("no expiry", format!("{path}?name={name}&sig={sig}"), 400),
        (
            "an empty signature",
            format!("{path}?exp={exp}&name={name}&sig="),
            403,
        ),
        ("a tampered signature", tamper_sig(&good), 403),
        (
            "a signature that is not hex",
            format!("{path}?exp={exp}&name={name}&sig=zz{}", &sig[2..]),
            403,
        ),
        (
            "a later expiry",
            format!(
                "{path}?exp={}&name={name}&sig={sig}",
                exp.parse::<u64>().unwrap() + 1
            ),
            403,
        ),
        (
            "another file name",
            format!("{path}?exp={exp}&name=other.csv&sig={sig}"),
            403,
        ),
        (
            "another blob",
            format!("/api/v1/blobs/{zeros}?exp={exp}&name={name}&sig={sig}"),
            403,
        ),
        (
            "an upper-case hash",
            format!(
                "/api/v1/blobs/{}?exp={exp}&name={name}&sig={sig}",
                sha.to_uppercase()
            ),
            403,
        ),
        ("an extra parameter", format!("{good}&user=root"), 400),
    ];
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let mut failures = Vec::new();
    for who in CALLERS {
        let (s, _) = w.http.call("GET", &good, w.token(who), None);
        if s != 200 {
            failures.push(format!("{who}: a good link: {s}"));
        }
        let mut cases = bad.clone();
        cases.push(("an expired link", short.clone(), 403));
        for (what, url, want) in cases {
            let (s, b) = w.http.call("GET", &url, w.token(who), None);
            if s != want || !b["error"]["code"].is_string() {
                failures.push(format!("{who}: {what}: {s} (expected {want}) {b}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tokens_expire_and_revoke_and_logins_check_passwords() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    let root = server.user("root", true, &["admin"]);
    let (s, body) = http.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"name": "root", "password": "wrong password!"})),
    );
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (401, json!("unauthenticated"))
    );
    let (s, body) = http.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"name": "root", "password": "a long password 123"})),
    );
    assert_eq!(s, 200, "{body}");
    let session = body["token"].as_str().unwrap().to_string();
    assert_eq!(http.get("/api/v1/me", &session).1["name"], "root");
    // A token with a read scope cannot mint a broader one.
    let (s, t) = http.post(
        "/api/v1/tokens",
        &root,
        json!({"name": "ro", "scopes": ["read"]}),
    );
    assert_eq!(s, 201, "{t}");
    let ro = t["token"].as_str().unwrap().to_string();
    let (s, _) = http.post(
        "/api/v1/tokens",
        &ro,
        json!({"name": "x", "scopes": ["admin"]}),
    );
    assert_eq!(s, 403);
    // Revocation takes effect at once.
    let id = t["id"].as_i64().unwrap();
    assert_eq!(http.get("/api/v1/me", &ro).0, 200);
    assert_eq!(
        http.call("DELETE", &format!("/api/v1/tokens/{id}"), Some(&root), None)
            .0,
        204
    );
    assert_eq!(http.get("/api/v1/me", &ro).0, 401);
    // Only the hash is stored.
    let mut c = server.state.db.get().unwrap();
    let stored: Vec<String> = c
        .client()
        .query("SELECT hash FROM tokens", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!stored.iter().any(|h| h == &ro || h == &root));
    assert!(stored.contains(&simforge_server::auth::tokens::token_hash(&ro)));
    // An expired token is refused.
    let (_, t) = http.post(
        "/api/v1/tokens",
        &root,
        json!({"name": "short", "scopes": ["read"], "expires_in_days": 0.00001}),
    );
    let short = t["token"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(http.get("/api/v1/me", &short).0, 401);
    // Logging out ends the session.
    assert_eq!(
        http.call(
            "POST",
            "/api/v1/auth/logout",
            Some(&session),
            Some(&json!({}))
        )
        .0,
        204
    );
    assert_eq!(http.get("/api/v1/me", &session).0, 401);
    // Errors name the field and give a hint.
    let (s, e) = http.post(
        "/api/v1/tokens",
        &root,
        json!({"name": "bad", "scopes": ["superuser"]}),
    );
    assert_eq!(s, 400);
    assert_eq!(e["error"]["field"], "scopes");
    assert!(e["error"]["hint"].as_str().unwrap().contains("worker"));
}
