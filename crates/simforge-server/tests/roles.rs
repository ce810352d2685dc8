//! The full authorisation matrix: every endpoint × every kind of caller
//! (server admin, project admin, member, viewer, a member of another project,
//! a worker token, a read-only token, anonymous), against the real server.
//! For each endpoint the set of callers allowed is asserted exactly: allowed
//! callers get 2xx, everyone else 401, 403 or 404.

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

fn get(path: &'static str) -> impl Fn(&World, &str) -> (u16, Value) {
    move |w, who| w.http.call("GET", path, w.token(who), None)
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
    let mut failures = Vec::new();
    for c in cases() {
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
