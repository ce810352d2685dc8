//! The PostgreSQL store (scale-out): the same tables and the same semantics as
//! [`crate::SqliteStore`], for a server or many coordinators sharing one
//! database.
//!
//! It uses the synchronous `postgres` client (which drives tokio-postgres on a
//! runtime of its own), because [`Store`] is synchronous and its callers are
//! plain threads; an async caller wraps it in `tokio::task::spawn_blocking`
//! (calling it from inside a tokio runtime thread would panic). One
//! `PgStore` is one connection. TLS is not supported: connect over a trusted
//! network or a local socket.
//!
//! Speed matters in two places. [`Store::store_plan`] streams the runs with
//! `COPY ... FROM STDIN` into a temporary table and upserts them with one
//! `INSERT ... SELECT ... ON CONFLICT`, so a million-run plan is a handful of
//! round trips. [`Store::apply`] sends each stretch of same-kind updates as
//! arrays to one prepared `UPDATE ... FROM unnest(...)`, in one transaction.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use postgres::types::{Json, ToSql};
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Row, Statement};
use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_core::results::RunRecord;

use crate::error::describe_pg;
use crate::schema::SCHEMA_VERSION;
use crate::schema_pg::PG_MIGRATIONS;
use crate::{AttemptRecord, PendingRun, PlanStats, RunFilter, Store, StoreError, StudyRow, Update};

/// First key of the advisory locks simforge takes (ASCII "sfrg"); the second
/// key says what is locked.
const LOCK_CLASS: i32 = 0x7366_7267;
/// Second key kinds: a schema's migrations, a schema's creation, a study's plan.
const LOCK_MIGRATE: &str = "migrate:";
const LOCK_CREATE_SCHEMA: &str = "create-schema:";
const LOCK_PLAN: &str = "plan:";

/// How long connecting may take when the URL sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows fetched per round trip when streaming runs.
const STREAM_BATCH: i32 = 2_000;

/// Bytes of COPY data buffered before they are sent.
const COPY_CHUNK: usize = 1 << 16;

macro_rules! run_columns {
    () => {
        "id, idx, tag, replicate, seed, params, metrics, state, attempts, reason, \
         started_at, finished_at, duration_s, host, spec_hash"
    };
}

/// Whether `location` names a PostgreSQL database (`postgres://` or
/// `postgresql://`) rather than an SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// A store in a PostgreSQL database (in one schema of it).
///
/// Create it with [`PgStore::connect`] (a URL, optionally with
/// `?schema=NAME`), [`PgStore::connect_in_schema`] or
/// [`PgStore::connect_existing`]; every constructor brings the schema up to
/// date, serialising concurrent migrations with an advisory lock. It is
/// `Send` but not `Sync`: one connection, used by one thread at a time (a
/// server keeps one per worker thread, or a pool of them).
pub struct PgStore {
    conn: RefCell<Conn>,
    location: String,
}

/// The connection and its prepared statements. Behind a `RefCell` because the
/// `Store` queries take `&self` while the client needs `&mut`.
struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The prepared statement for `sql`, preparing it on first use.
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let s = self.stmt(sql)?;
        Ok(self.client.query(&s, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let s = self.stmt(sql)?;
        Ok(self.client.query_opt(&s, params)?)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let s = self.stmt(sql)?;
        Ok(self.client.execute(&s, params)?)
    }
}

/// Whether a missing store may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Existing,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`),
    /// creating the store's tables if the schema holds none and migrating an
    /// older schema. A `schema=NAME` query parameter (simforge's, not
    /// libpq's) puts the store in that schema, created if missing, as
    /// [`PgStore::connect_in_schema`] does; otherwise the tables live in the
    /// connection's default schema (usually `public`).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let (base, schema) = split_schema_param(url)?;
        Self::open(&base, schema.as_deref(), redact_url(url), Mode::Create)
    }

    /// Connects to `url` and keeps the store in `schema`: creates the schema
    /// if missing and sets the session's `search_path` to it. Tests isolate
    /// themselves this way; a server's configuration names its schema.
    pub fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        let location = with_schema_param(&redact_url(url), schema);
        Self::open(url, Some(schema), location, Mode::Create)
    }

    /// The underlying client, for a caller that keeps tables of its own
    /// beside the store's in the same database (the server: users, leases,
    /// audit) and wants them on the same connection.
    pub fn client(&mut self) -> &mut Client {
        &mut self.conn.get_mut().client
    }

    /// Connects to an existing store: like [`PgStore::connect`], but a
    /// database (or schema) without simforge's tables is
    /// [`StoreError::NoStore`] rather than a new, empty store. Read-only
    /// commands use this so that a mistyped URL does not create tables.
    pub fn connect_existing(url: &str) -> Result<Self, StoreError> {
        let (base, schema) = split_schema_param(url)?;
        Self::open(&base, schema.as_deref(), redact_url(url), Mode::Existing)
    }

    fn open(
        url: &str,
        schema: Option<&str>,
        location: String,
        mode: Mode,
    ) -> Result<Self, StoreError> {
        let connect_error = |detail: String| StoreError::Connect {
            location: location.clone(),
            detail,
        };
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| connect_error(describe_pg(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("simforge");
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| connect_error(describe_pg(&e)))?;
        let mut store = PgStore {
            conn: RefCell::new(Conn {
                client,
                prepared: HashMap::new(),
            }),
            location,
        };
        if let Some(schema) = schema {
            store.enter_schema(schema, mode)?;
        }
        if mode == Mode::Existing && store.schema_version()? == 0 {
            return Err(StoreError::NoStore {
                location: store.location.clone(),
            });
        }
        store.migrate()?;
        Ok(store)
    }

    /// Creates `schema` if needed (unless only an existing store will do) and
    /// makes it the session's only schema for unqualified names.
    fn enter_schema(&mut self, schema: &str, mode: Mode) -> Result<(), StoreError> {
        if schema.is_empty() || schema.contains('\0') {
            return Err(StoreError::Connect {
                location: self.location.clone(),
                detail: format!("`{schema}` is not a usable schema name"),
            });
        }
        let quoted = quote_ident(schema);
        let client = &mut self.conn.get_mut().client;
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
                &[&schema],
            )?
            .try_get(0)?;
        if !exists {
            if mode == Mode::Existing {
                return Err(StoreError::NoStore {
                    location: self.location.clone(),
                });
            }
            // CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent
            // create of the same name; the advisory lock makes it so.
            let mut tx = client.transaction()?;
            advisory_xact_lock(&mut tx, &format!("{LOCK_CREATE_SCHEMA}{schema}"))?;
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}"))?;
            tx.commit()?;
        }
        client.batch_execute(&format!("SET search_path TO {quoted}"))?;
        Ok(())
    }

    /// Applies missing migrations, one transaction each, under an advisory
    /// lock on the schema so that two processes starting together neither
    /// race nor apply a migration twice.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let location = self.location.clone();
        let client = &mut self.conn.get_mut().client;
        loop {
            let mut tx = client.transaction()?;
            let schema: Option<String> =
                tx.query_one("SELECT current_schema()", &[])?.try_get(0)?;
            advisory_xact_lock(
                &mut tx,
                &format!("{LOCK_MIGRATE}{}", schema.unwrap_or_default()),
            )?;
            let found = version_of(&mut tx, &location)?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::TooNew {
                    path: location,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            let Some(sql) = usize::try_from(found)
                .ok()
                .and_then(|i| PG_MIGRATIONS.get(i))
            else {
                tx.commit()?;
                return Ok(());
            };
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&(found + 1).to_string()],
            )?;
            tx.commit()?;
        }
    }

    /// The connection, for a query made through `&self`. Fails (rather than
    /// panicking) if called from inside [`Store::for_each_run`]'s callback,
    /// while the connection is busy streaming rows.
    fn conn(&self) -> Result<RefMut<'_, Conn>, StoreError> {
        self.conn.try_borrow_mut().map_err(|_| {
            StoreError::Busy(
                "the PostgreSQL connection is streaming rows to a for_each_run callback; \
                 collect the rows first, or use a second store"
                    .into(),
            )
        })
    }
}

/// Takes a transaction-scoped advisory lock named by `what`.
fn advisory_xact_lock(tx: &mut postgres::Transaction<'_>, what: &str) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS, &what],
    )?;
    Ok(())
}

/// The schema version of the store in the session's current schema: 0 for a
/// schema without tables, [`StoreError::NotAStore`] for one with other tables.
fn version_of(client: &mut impl GenericClient, location: &str) -> Result<i64, StoreError> {
    let not_a_store = |detail: String| StoreError::NotAStore {
        path: location.to_string(),
        detail,
    };
    let row = client.query_one(
        "SELECT current_schema(),
                (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()),
                EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                        WHERE schemaname = current_schema() AND tablename = 'meta')",
        &[],
    )?;
    let schema: Option<String> = row.try_get(0)?;
    let tables: i64 = row.try_get(1)?;
    let has_meta: bool = row.try_get(2)?;
    let Some(schema) = schema else {
        return Err(not_a_store(
            "no schema on the session's search_path exists; create one, or add ?schema=NAME to the URL".into(),
        ));
    };
    if !has_meta {
        if tables > 0 {
            return Err(not_a_store(format!(
                "schema `{schema}` has {tables} tables but no simforge `meta` table"
            )));
        }
        return Ok(0);
    }
    let value: Option<String> = client
        .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
        .map(|r| r.try_get(0))
        .transpose()?;
    match value.unwrap_or_default().parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v),
        _ => Err(not_a_store(
            "its schema_version is missing or not a number".into(),
        )),
    }
}

/// `ident` as a quoted SQL identifier.
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Splits simforge's own `schema=NAME` query parameter off a PostgreSQL URL
/// (the client library rejects unknown parameters). Other strings pass through.
fn split_schema_param(url: &str) -> Result<(String, Option<String>), StoreError> {
    if !is_postgres_url(url) {
        return Ok((url.to_string(), None));
    }
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "schema" {
            let decoded = percent_decode(value).ok_or_else(|| StoreError::Connect {
                location: redact_url(url),
                detail: format!("schema=`{value}` is not valid percent-encoded UTF-8"),
            })?;
            schema = Some(decoded);
        } else {
            kept.push(pair);
        }
    }
    let base = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((base, schema))
}

/// `url` with `schema=NAME` added to its query, unless it names one already.
fn with_schema_param(url: &str, schema: &str) -> String {
    if !is_postgres_url(url) {
        return format!("{url} (schema {schema})");
    }
    let has = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("schema=")));
    if has {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={}", percent_encode(schema))
}

/// Decodes `%XX` escapes (and `+` as a space is *not* decoded: libpq does not).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but unreserved URL characters as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A connection string fit for messages: the password removed from a URL's
/// user info and from its `password=` parameter, or from a `key=value`
/// connection string.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://").filter(|_| is_postgres_url(url)) {
        let (scheme, rest) = url.split_at(scheme_end + 3);
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let mut out = scheme.to_string();
        match before_query.rfind('@') {
            Some(at) => {
                let userinfo = &before_query[..at];
                out.push_str(userinfo.split_once(':').map_or(userinfo, |(user, _)| user));
                out.push_str(&before_query[at..]);
            }
            None => out.push_str(before_query),
        }
        if let Some(query) = query {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("password="))
                .collect();
            if !kept.is_empty() {
                out.push('?');
                out.push_str(&kept.join("&"));
            }
        }
        return out;
    }
    redact_key_value(url)
}

/// Removes `password=...` from a libpq `key=value` connection string (values
/// may be single-quoted with backslash escapes).
fn redact_key_value(s: &str) -> String {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        // Key, up to '=' or whitespace.
        let mut key_end = s.len();
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                key_end = i;
                break;
            }
            chars.next();
        }
        let key = s[start..key_end].to_string();
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none_or(|&(_, c)| c != '=') {
            // A bare word (not a connection string at all): keep it.
            out.push(key);
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        // Value: quoted, or up to whitespace.
        let value_start = chars.peek().map_or(s.len(), |&(i, _)| i);
        let mut value_end = s.len();
        if chars.peek().is_some_and(|&(_, c)| c == '\'') {
            chars.next();
            while let Some((i, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c == '\'' {
                    value_end = i + 1;
                    break;
                }
            }
        } else {
            while let Some(&(i, c)) = chars.peek() {
                if c.is_whitespace() {
                    value_end = i;
                    break;
                }
                chars.next();
            }
        }
        if key != "password" {
            out.push(format!(
                "{key}={}",
                &s[value_start..value_end.max(value_start)]
            ));
        }
    }
    out.join(" ")
}

/// Appends `s` to COPY text-format data, escaping what the format requires.
fn copy_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A stored `BIGINT` that must fit a `u32` (replicates, attempts).
fn to_u32(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is out of range")))
}

/// A stored run state.
fn parse_state(s: &str) -> Result<RunState, StoreError> {
    s.parse()
        .map_err(|e: simforge_core::state::UnknownState| StoreError::Corrupt(e.to_string()))
}

fn study_row(r: &Row) -> Result<StudyRow, StoreError> {
    Ok(StudyRow {
        name: r.try_get(0)?,
        spec_hash: r.try_get(1)?,
        spec_json: r.try_get(2)?,
        study_file: r.try_get(3)?,
        simulator: r.try_get(4)?,
        plan_gen: r.try_get(5)?,
        planned_runs: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

/// A JSONB object column as a map (SQL NULL is empty).
fn json_map(
    value: Option<serde_json::Value>,
    id: &str,
    what: &str,
) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
    match value {
        None => Ok(BTreeMap::new()),
        Some(serde_json::Value::Object(m)) => Ok(m.into_iter().collect()),
        Some(other) => Err(StoreError::Corrupt(format!(
            "run {id}: {what}: expected a JSON object, found {other}"
        ))),
    }
}

/// A row selected with `run_columns!()` as a record. Design index and seed are
/// `u64` stored as `BIGINT` by bit pattern, as in SQLite.
fn run_record(r: &Row) -> Result<RunRecord, StoreError> {
    let id: String = r.try_get(0)?;
    let state: String = r.try_get(7)?;
    Ok(RunRecord {
        index: r.try_get::<_, i64>(1)? as u64,
        tag: r.try_get(2)?,
        replicate: to_u32(r.try_get(3)?, "replicate")?,
        seed: r.try_get::<_, i64>(4)? as u64,
        params: json_map(Some(r.try_get(5)?), &id, "parameters")?,
        metrics: json_map(r.try_get(6)?, &id, "metrics")?,
        state: parse_state(&state)?,
        attempts: to_u32(r.try_get(8)?, "attempts")?,
        reason: r.try_get(9)?,
        started_at: r.try_get(10)?,
        finished_at: r.try_get(11)?,
        duration_s: r.try_get(12)?,
        host: r.try_get(13)?,
        spec_hash: r.try_get(14)?,
        id,
    })
}

/// What kind of change an [`Update`] is: consecutive updates of one kind go
/// to the database as one array statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateKind {
    Started,
    Finished,
    Requeued,
}

fn update_key(u: &Update) -> (UpdateKind, &str) {
    match u {
        Update::Started { run_id, .. } => (UpdateKind::Started, run_id),
        Update::Finished { record, .. } => (UpdateKind::Finished, &record.run_id),
        Update::Requeued { run_id } => (UpdateKind::Requeued, run_id),
    }
}

const SQL_STARTED: &str =
    "UPDATE runs AS r SET state = 'running', attempts = u.attempt, started_at = u.started_at,
       host = u.host, finished_at = NULL, duration_s = NULL
     FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) AS u(id, attempt, started_at, host)
     WHERE r.id = u.id";
const SQL_FINISHED: &str = "UPDATE runs AS r SET state = u.state, attempts = GREATEST(r.attempts, u.attempt), reason = u.reason,
       metrics = u.metrics, started_at = u.started_at, finished_at = u.finished_at, duration_s = u.duration_s,
       host = u.host, spec_hash = u.spec_hash
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::jsonb[], $6::text[], $7::text[],
                 $8::float8[], $9::text[], $10::text[])
       AS u(id, state, attempt, reason, metrics, started_at, finished_at, duration_s, host, spec_hash)
     WHERE r.id = u.id";
const SQL_ATTEMPTS: &str = "INSERT INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, exit_code, signal,
       reason, host, max_rss_kb)
     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::int8[],
                          $8::int8[], $9::text[], $10::text[], $11::int8[])
     ON CONFLICT (run_id, attempt) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
       finished_at = excluded.finished_at, duration_s = excluded.duration_s, exit_code = excluded.exit_code,
       signal = excluded.signal, reason = excluded.reason, host = excluded.host, max_rss_kb = excluded.max_rss_kb";
const SQL_REQUEUED: &str =
    "UPDATE runs SET state = 'pending' WHERE id = ANY($1::text[]) AND state = 'running'";

const SQL_STUDY: &str = "SELECT name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs, created_at, updated_at
     FROM studies WHERE name = $1";
const SQL_STUDIES: &str = "SELECT name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs, created_at, updated_at
     FROM studies ORDER BY name COLLATE \"C\"";
const SQL_PENDING_PAGE: &str = "SELECT id, idx, replicate, seed, params, attempts FROM runs
     WHERE study = $1 AND state = 'pending' AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
       AND (idx, replicate) > ($2, $3)
     ORDER BY idx, replicate LIMIT $4";
const SQL_STATE_COUNTS: &str = "SELECT state, count(*) FROM runs
     WHERE study = $1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1) GROUP BY state";
const SQL_FOR_EACH_RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs
     WHERE study = $1 AND ($4::bool OR plan_gen = (SELECT plan_gen FROM studies WHERE name = $1))
       AND ($2::text IS NULL OR state = $2)
     ORDER BY idx, replicate LIMIT $3"
);
const SQL_FIND_RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    ", study FROM runs WHERE starts_with(id, $1) AND ($2::text IS NULL OR study = $2) LIMIT 2"
);

impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        version_of(&mut conn.client, &self.location)
    }

    fn study(&self, name: &str) -> Result<StudyRow, StoreError> {
        match self.conn()?.query_opt(SQL_STUDY, &[&name])? {
            Some(r) => study_row(&r),
            None => Err(StoreError::UnknownStudy(name.to_string())),
        }
    }

    fn studies(&self) -> Result<Vec<StudyRow>, StoreError> {
        self.conn()?
            .query(SQL_STUDIES, &[])?
            .iter()
            .map(study_row)
            .collect()
    }

    fn store_plan(
        &mut self,
        study: &StudyRow,
        runs: &mut dyn Iterator<Item = PlannedRun>,
    ) -> Result<(i64, PlanStats), StoreError> {
        let client = &mut self.conn.get_mut().client;
        let mut tx = client.transaction()?;
        // Two planners of one study (two coordinators, a server) take turns.
        advisory_xact_lock(&mut tx, &format!("{LOCK_PLAN}{}", study.name))?;
        let now = simforge_core::clock::now_rfc3339();
        let prev_gen: Option<i64> = tx
            .query_opt(
                "SELECT plan_gen FROM studies WHERE name = $1",
                &[&study.name],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let gen_ = prev_gen.unwrap_or(0) + 1;
        let before: i64 = tx
            .query_one("SELECT count(*) FROM runs WHERE study = $1", &[&study.name])?
            .try_get(0)?;
        tx.batch_execute(
            "CREATE TEMP TABLE simforge_plan_in (
                 ord BIGINT NOT NULL, id TEXT NOT NULL, idx BIGINT NOT NULL, tag TEXT,
                 replicate BIGINT NOT NULL, seed BIGINT NOT NULL, params JSONB NOT NULL
             ) ON COMMIT DROP",
        )?;
        // Stream the plan. Identical points share one id; remember whether any
        // id (or tagged design row) repeats, since the upsert must then keep
        // only each one's last row, as SQLite's row-by-row upsert does.
        let mut planned = 0u64;
        let mut seen_ids: HashSet<u64> = HashSet::new();
        let mut duplicate_ids = false;
        let mut tagged = 0u64;
        {
            let mut writer = tx.copy_in(
                "COPY simforge_plan_in (ord, id, idx, tag, replicate, seed, params) FROM STDIN",
            )?;
            let mut buf: Vec<u8> = Vec::with_capacity(COPY_CHUNK + 4096);
            for run in runs {
                if !duplicate_ids && !seen_ids.insert(hash_id(&run.id)) {
                    duplicate_ids = true;
                }
                // Writing into a Vec cannot fail.
                write!(buf, "{planned}\t")?;
                copy_text(&mut buf, &run.id);
                write!(buf, "\t{}\t", run.index as i64)?;
                match &run.tag {
                    Some(tag) => {
                        tagged += 1;
                        copy_text(&mut buf, tag);
                    }
                    None => buf.extend_from_slice(b"\\N"),
                }
                write!(buf, "\t{}\t{}\t", run.replicate, run.seed as i64)?;
                let params = serde_json::to_string(&run.params)
                    .map_err(|e| StoreError::Corrupt(format!("run {}: parameters: {e}", run.id)))?;
                copy_text(&mut buf, &params);
                buf.push(b'\n');
                planned += 1;
                if buf.len() >= COPY_CHUNK {
                    writer.write_all(&buf).map_err(copy_error)?;
                    buf.clear();
                }
            }
            writer.write_all(&buf).map_err(copy_error)?;
            writer.finish()?;
        }
        drop(seen_ids);
        let study_name: &str = &study.name;
        let spec_hash: &str = &study.spec_hash;
        if duplicate_ids {
            tx.execute(
                "INSERT INTO runs (id, study, plan_gen, idx, tag, replicate, seed, params, state, spec_hash)
                 SELECT DISTINCT ON (id) id, $1, $2, idx, tag, replicate, seed, params, 'pending', $3
                 FROM simforge_plan_in ORDER BY id, ord DESC
                 ON CONFLICT (id) DO UPDATE SET plan_gen = excluded.plan_gen, idx = excluded.idx, tag = excluded.tag",
                &[&study_name, &gen_, &spec_hash],
            )?;
        } else {
            tx.execute(
                "INSERT INTO runs (id, study, plan_gen, idx, tag, replicate, seed, params, state, spec_hash)
                 SELECT id, $1, $2, idx, tag, replicate, seed, params, 'pending', $3 FROM simforge_plan_in
                 ON CONFLICT (id) DO UPDATE SET plan_gen = excluded.plan_gen, idx = excluded.idx, tag = excluded.tag",
                &[&study_name, &gen_, &spec_hash],
            )?;
        }
        if tagged > 0 {
            tx.execute(
                "INSERT INTO design_rows (study, plan_gen, tag, replicate, run_id)
                 SELECT DISTINCT ON (tag, replicate) $1, $2, tag, replicate, id
                 FROM simforge_plan_in WHERE tag IS NOT NULL ORDER BY tag, replicate, ord DESC
                 ON CONFLICT (study, plan_gen, tag, replicate) DO UPDATE SET run_id = excluded.run_id",
                &[&study_name, &gen_],
            )?;
        }
        tx.execute(
            "DELETE FROM design_rows WHERE study = $1 AND plan_gen < $2",
            &[&study_name, &gen_],
        )?;
        let after: i64 = tx
            .query_one("SELECT count(*) FROM runs WHERE study = $1", &[&study_name])?
            .try_get(0)?;
        tx.execute(
            "INSERT INTO studies (name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs,
                                  created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (name) DO UPDATE SET spec_hash = excluded.spec_hash, spec_json = excluded.spec_json,
               study_file = excluded.study_file, simulator = excluded.simulator, plan_gen = excluded.plan_gen,
               planned_runs = excluded.planned_runs, updated_at = excluded.updated_at",
            &[
                &study_name,
                &spec_hash,
                &study.spec_json,
                &study.study_file,
                &study.simulator,
                &gen_,
                &(planned as i64),
                &now,
            ],
        )?;
        tx.commit()?;
        Ok((
            gen_,
            PlanStats {
                planned,
                new: (after - before).max(0) as u64,
            },
        ))
    }

    fn requeue_running(&mut self, study: &str) -> Result<u64, StoreError> {
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'pending' WHERE study = $1 AND state = 'running' AND job IS NULL",
            &[&study],
        )
    }

    fn requeue_failed(&mut self, study: &str) -> Result<u64, StoreError> {
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'pending' WHERE study = $1 AND state IN ('failed', 'timed_out', 'cancelled')
               AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)",
            &[&study],
        )
    }

    fn requeue_cancelled(&mut self, study: &str) -> Result<u64, StoreError> {
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'pending' WHERE study = $1 AND state = 'cancelled'",
            &[&study],
        )
    }

    fn pending_page(
        &self,
        study: &str,
        after: Option<(u64, u32)>,
        limit: u64,
    ) -> Result<Vec<PendingRun>, StoreError> {
        let (ai, ar) = after
            .map(|(i, r)| (i as i64, i64::from(r)))
            .unwrap_or((-1, -1));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .conn()?
            .query(SQL_PENDING_PAGE, &[&study, &ai, &ar, &limit])?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0)?;
            let params = match r.try_get::<_, serde_json::Value>(4)? {
                serde_json::Value::Object(m) => m,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "run {id}: parameters are not a JSON object"
                    )));
                }
            };
            out.push(PendingRun {
                index: r.try_get::<_, i64>(1)? as u64,
                replicate: to_u32(r.try_get(2)?, "replicate")?,
                seed: r.try_get::<_, i64>(3)? as u64,
                params,
                attempts: to_u32(r.try_get(5)?, "attempts")?,
                id,
            });
        }
        Ok(out)
    }

    fn apply(&mut self, updates: &[Update]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let conn = self.conn.get_mut();
        let started = conn.stmt(SQL_STARTED)?;
        let finished = conn.stmt(SQL_FINISHED)?;
        let attempts = conn.stmt(SQL_ATTEMPTS)?;
        let requeued = conn.stmt(SQL_REQUEUED)?;
        let mut tx = conn.client.transaction()?;
        // Order matters (a run may start, finish and start again in one
        // batch), so updates go in stretches of one kind whose run ids are
        // distinct; each stretch is one array statement.
        let mut i = 0;
        while i < updates.len() {
            let (kind, _) = update_key(&updates[i]);
            let mut ids = HashSet::new();
            let mut j = i;
            while j < updates.len() {
                let (k, id) = update_key(&updates[j]);
                if k != kind || !ids.insert(id) {
                    break;
                }
                j += 1;
            }
            let stretch = &updates[i..j];
            i = j;
            match kind {
                UpdateKind::Started => {
                    let n = stretch.len();
                    let (mut id, mut attempt, mut at, mut host) = (
                        Vec::with_capacity(n),
                        Vec::with_capacity(n),
                        Vec::with_capacity(n),
                        Vec::with_capacity(n),
                    );
                    for u in stretch {
                        if let Update::Started {
                            run_id,
                            attempt: a,
                            started_at,
                            host: h,
                        } = u
                        {
                            id.push(run_id.as_str());
                            attempt.push(i64::from(*a));
                            at.push(started_at.as_str());
                            host.push(h.as_str());
                        }
                    }
                    tx.execute(&started, &[&id, &attempt, &at, &host])?;
                }
                UpdateKind::Finished => {
                    let records: Vec<(&AttemptRecord, RunState)> = stretch
                        .iter()
                        .filter_map(|u| match u {
                            Update::Finished { record, run_state } => Some((record, *run_state)),
                            _ => None,
                        })
                        .collect();
                    let id: Vec<&str> = records.iter().map(|(a, _)| a.run_id.as_str()).collect();
                    let next: Vec<&str> = records.iter().map(|(_, s)| s.as_str()).collect();
                    let state: Vec<&str> = records.iter().map(|(a, _)| a.state.as_str()).collect();
                    let attempt: Vec<i64> =
                        records.iter().map(|(a, _)| i64::from(a.attempt)).collect();
                    let reason: Vec<Option<&str>> =
                        records.iter().map(|(a, _)| a.reason.as_deref()).collect();
                    let metrics: Vec<Option<Json<&serde_json::Map<String, serde_json::Value>>>> =
                        records
                            .iter()
                            .map(|(a, _)| (!a.metrics.is_empty()).then_some(Json(&a.metrics)))
                            .collect();
                    let started_at: Vec<&str> =
                        records.iter().map(|(a, _)| a.started_at.as_str()).collect();
                    let finished_at: Vec<&str> = records
                        .iter()
                        .map(|(a, _)| a.finished_at.as_str())
                        .collect();
                    let duration: Vec<f64> = records.iter().map(|(a, _)| a.duration_s).collect();
                    let host: Vec<&str> = records.iter().map(|(a, _)| a.host.as_str()).collect();
                    let spec_hash: Vec<&str> =
                        records.iter().map(|(a, _)| a.spec_hash.as_str()).collect();
                    let exit_code: Vec<Option<i64>> = records
                        .iter()
                        .map(|(a, _)| a.exit_code.map(i64::from))
                        .collect();
                    let signal: Vec<Option<i64>> = records
                        .iter()
                        .map(|(a, _)| a.signal.map(i64::from))
                        .collect();
                    let rss: Vec<Option<i64>> = records.iter().map(|(a, _)| a.max_rss_kb).collect();
                    tx.execute(
                        &finished,
                        &[
                            &id,
                            &next,
                            &attempt,
                            &reason,
                            &metrics,
                            &started_at,
                            &finished_at,
                            &duration,
                            &host,
                            &spec_hash,
                        ],
                    )?;
                    tx.execute(
                        &attempts,
                        &[
                            &id,
                            &attempt,
                            &state,
                            &started_at,
                            &finished_at,
                            &duration,
                            &exit_code,
                            &signal,
                            &reason,
                            &host,
                            &rss,
                        ],
                    )?;
                }
                UpdateKind::Requeued => {
                    let id: Vec<&str> = stretch.iter().map(|u| update_key(u).1).collect();
                    tx.execute(&requeued, &[&id])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn state_counts(&self, study: &str) -> Result<BTreeMap<RunState, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for r in self.conn()?.query(SQL_STATE_COUNTS, &[&study])? {
            let state: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            out.insert(parse_state(&state)?, n as u64);
        }
        Ok(out)
    }

    fn failure_reasons(&self, study: &str, top: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let top = i64::try_from(top).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                "SELECT coalesce(reason, 'unknown'), count(*) AS n FROM runs
                 WHERE study = $1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
                   AND state IN ('failed', 'timed_out')
                 GROUP BY 1 ORDER BY n DESC, coalesce(reason, 'unknown') COLLATE \"C\" LIMIT $2",
                &[&study, &top],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
    }

    fn for_each_run(
        &self,
        study: &str,
        filter: &RunFilter,
        f: &mut dyn FnMut(RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let state = filter.state.map(RunState::as_str);
        let limit: Option<i64> = filter.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut conn = self.conn()?;
        let stmt = conn.stmt(SQL_FOR_EACH_RUN)?;
        // One snapshot, fetched a batch at a time through a portal, so that an
        // export of millions of rows neither holds them all nor sees a
        // half-applied batch.
        let mut tx = conn
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let portal = tx.bind(&stmt, &[&study, &state, &limit, &filter.all_plans])?;
        loop {
            let rows = tx.query_portal(&portal, STREAM_BATCH)?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                f(run_record(r)?)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn find_run(&self, study: Option<&str>, prefix: &str) -> Result<RunRecord, StoreError> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::RunLookup(format!(
                "`{prefix}` is not a run id (expected hex digits, e.g. 3fa2c9)"
            )));
        }
        let lower = prefix.to_ascii_lowercase();
        let rows = self.conn()?.query(SQL_FIND_RUN, &[&lower, &study])?;
        match rows.as_slice() {
            [] => Err(StoreError::RunLookup(format!(
                "no run id starts with `{prefix}`"
            ))),
            [one] => run_record(one),
            _ => Err(StoreError::RunLookup(format!(
                "more than one run id starts with `{prefix}`; give more digits"
            ))),
        }
    }

    fn run_study(&self, run_id: &str) -> Result<String, StoreError> {
        match self
            .conn()?
            .query_opt("SELECT study FROM runs WHERE id = $1", &[&run_id])?
        {
            Some(r) => Ok(r.try_get(0)?),
            None => Err(StoreError::RunLookup(format!("no run `{run_id}`"))),
        }
    }

    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self.conn()?.query(
            "SELECT a.run_id, a.attempt, a.state, a.started_at, a.finished_at, a.duration_s, a.exit_code, a.signal,
                    a.reason, a.host, a.max_rss_kb, r.spec_hash
             FROM attempts a JOIN runs r ON r.id = a.run_id WHERE a.run_id = $1 ORDER BY a.attempt",
            &[&run_id],
        )?;
        let small = |v: Option<i64>, what: &str| -> Result<Option<i32>, StoreError> {
            v.map(|v| {
                i32::try_from(v)
                    .map_err(|_| StoreError::Corrupt(format!("{what} {v} is out of range")))
            })
            .transpose()
        };
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(2)?;
                Ok(AttemptRecord {
                    run_id: r.try_get(0)?,
                    attempt: to_u32(r.try_get(1)?, "attempt")?,
                    state: parse_state(&state)?,
                    started_at: r.try_get(3)?,
                    finished_at: r.try_get(4)?,
                    duration_s: r.try_get(5)?,
                    exit_code: small(r.try_get(6)?, "exit code")?,
                    signal: small(r.try_get(7)?, "signal")?,
                    reason: r.try_get(8)?,
                    host: r.try_get(9)?,
                    max_rss_kb: r.try_get(10)?,
                    metrics: serde_json::Map::new(),
                    spec_hash: r.try_get(11)?,
                })
            })
            .collect()
    }

    fn record_submission(
        &mut self,
        study: &str,
        job_id: &str,
        manifest: &str,
        first_task: usize,
        run_ids: &[String],
    ) -> Result<(), StoreError> {
        let first_task = i64::try_from(first_task).unwrap_or(i64::MAX);
        let count = i64::try_from(run_ids.len()).unwrap_or(i64::MAX);
        let host = format!("slurm job {job_id}");
        let mut tx = self.conn.get_mut().client.transaction()?;
        tx.execute(
            "INSERT INTO submissions (job_id, study, manifest, first_task, runs, submitted_at, state)
             VALUES ($1, $2, $3, $4, $5, $6, 'active')",
            &[
                &job_id,
                &study,
                &manifest,
                &first_task,
                &count,
                &simforge_core::clock::now_rfc3339(),
            ],
        )?;
        tx.execute(
            "UPDATE runs SET state = 'running', job = $2, host = $3
             WHERE id = ANY($1) AND (state = 'pending' OR (state = 'running' AND job LIKE 'submitting:%'))",
            &[&run_ids, &job_id, &host],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn submitting(&self, study: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let rows = self.conn()?.query(
            "SELECT job, id FROM runs WHERE study = $1 AND state = 'running' AND job LIKE 'submitting:%'
             ORDER BY job COLLATE \"C\", id COLLATE \"C\"",
            &[&study],
        )?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in rows {
            let (marker, id): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            match out.last_mut() {
                Some((m, ids)) if *m == marker => ids.push(id),
                _ => out.push((marker, vec![id])),
            }
        }
        Ok(out)
    }

    fn active_submissions(&self, study: &str) -> Result<Vec<String>, StoreError> {
        self.conn()?
            .query(
                "SELECT job_id FROM submissions WHERE study = $1 AND state = 'active'
                 ORDER BY submitted_at COLLATE \"C\", job_id COLLATE \"C\"",
                &[&study],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    fn lease_runs(&mut self, run_ids: &[String], job: &str) -> Result<(), StoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'running', job = $2 WHERE id = ANY($1) AND state = 'pending'",
            &[&run_ids, &job],
        )?;
        Ok(())
    }

    fn release_runs(&mut self, run_ids: &[String]) -> Result<(), StoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'pending', job = NULL WHERE id = ANY($1) AND state = 'running'",
            &[&run_ids],
        )?;
        Ok(())
    }

    fn release_pilot_held(&mut self, study: &str) -> Result<u64, StoreError> {
        self.conn.get_mut().execute(
            "UPDATE runs SET state = 'pending', job = NULL
             WHERE study = $1 AND state = 'running' AND job LIKE 'pilot:%'",
            &[&study],
        )
    }

    fn pilot_held(&self, study: &str) -> Result<Vec<(String, String, u32)>, StoreError> {
        self.conn()?
            .query(
                "SELECT id, substr(job, 7), attempts FROM runs
                 WHERE study = $1 AND state = 'running' AND job LIKE 'pilot:%'",
                &[&study],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    to_u32(r.try_get(2)?, "attempts")?,
                ))
            })
            .collect()
    }

    fn oom_losses(&self, study: &str, reason: &str) -> Result<HashMap<String, u32>, StoreError> {
        self.conn()?
            .query(
                "SELECT a.run_id, count(*) FROM attempts a JOIN runs r ON r.id = a.run_id
                 WHERE r.study = $1 AND r.state = 'pending' AND starts_with(a.reason, $2)
                 GROUP BY a.run_id",
                &[&study, &reason],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, to_u32(r.try_get(1)?, "count")?)))
            .collect()
    }

    fn design_rows(&self, study: &str) -> Result<Vec<(String, u32, String)>, StoreError> {
        self.conn()?
            .query(
                "SELECT tag, replicate, run_id FROM design_rows
                 WHERE study = $1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
                 ORDER BY tag COLLATE \"C\", replicate",
                &[&study],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    to_u32(r.try_get(1)?, "replicate")?,
                    r.try_get(2)?,
                ))
            })
            .collect()
    }

    fn submission_count(&self, study: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()?
            .query(
                "SELECT count(*) FROM submissions WHERE study = $1",
                &[&study],
            )?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        Ok(n as u64)
    }

    fn submission(&self, job_id: &str) -> Result<(String, usize), StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT manifest, first_task FROM submissions WHERE job_id = $1",
                &[&job_id],
            )?
            .ok_or_else(|| {
                StoreError::RunLookup(format!("no submission with job id `{job_id}`"))
            })?;
        let first: i64 = row.try_get(1)?;
        let first = usize::try_from(first)
            .map_err(|_| StoreError::Corrupt(format!("submission {job_id}: first task {first}")))?;
        Ok((row.try_get(0)?, first))
    }

    fn close_submission(
        &mut self,
        job_id: &str,
        state: &str,
        reason_for: &dyn Fn(&str) -> Option<String>,
        max_attempts: u32,
    ) -> Result<u64, StoreError> {
        let now = simforge_core::clock::now_rfc3339();
        let host = format!("slurm job {job_id}");
        let mut tx = self.conn.get_mut().client.transaction()?;
        let lost: Vec<(String, u32)> = tx
            .query(
                "SELECT id, attempts FROM runs WHERE job = $1 AND state = 'running'",
                &[&job_id],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, to_u32(r.try_get(1)?, "attempts")?)))
            .collect::<Result<_, StoreError>>()?;
        for (id, attempts) in &lost {
            let Some(reason) = reason_for(id) else {
                tx.execute(
                    "UPDATE runs SET state = 'pending', job = NULL WHERE id = $1",
                    &[id],
                )?;
                continue;
            };
            let attempt = attempts + 1;
            tx.execute(
                "INSERT INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, reason, host)
                 VALUES ($1, $2, 'failed', $3, $3, 0, $4, $5)
                 ON CONFLICT (run_id, attempt) DO UPDATE SET state = excluded.state,
                   started_at = excluded.started_at, finished_at = excluded.finished_at,
                   duration_s = excluded.duration_s, exit_code = NULL, signal = NULL,
                   reason = excluded.reason, host = excluded.host, max_rss_kb = NULL",
                &[id, &i64::from(attempt), &now, &reason, &host],
            )?;
            let next = if attempt >= max_attempts {
                "failed"
            } else {
                "pending"
            };
            tx.execute(
                "UPDATE runs SET state = $2, attempts = $3, reason = $4, job = NULL WHERE id = $1",
                &[id, &next, &i64::from(attempt), &reason],
            )?;
        }
        tx.execute("UPDATE runs SET job = NULL WHERE job = $1", &[&job_id])?;
        tx.execute(
            "UPDATE submissions SET state = $2 WHERE job_id = $1",
            &[&job_id, &state],
        )?;
        tx.commit()?;
        Ok(lost.len() as u64)
    }

    fn median_duration(&self, study: &str) -> Result<Option<f64>, StoreError> {
        let mut conn = self.conn()?;
        let n: i64 = conn
            .query_opt(
                "SELECT count(*) FROM runs WHERE study = $1 AND state = 'succeeded' AND duration_s IS NOT NULL",
                &[&study],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(0);
        if n == 0 {
            return Ok(None);
        }
        Ok(conn
            .query_opt(
                "SELECT duration_s FROM runs WHERE study = $1 AND state = 'succeeded' AND duration_s IS NOT NULL
                 ORDER BY duration_s LIMIT 1 OFFSET $2",
                &[&study, &(n / 2)],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
    }

    fn last_recorded_attempt(&self, run_id: &str) -> Result<Option<u32>, StoreError> {
        let max: Option<i64> = self
            .conn()?
            .query_opt(
                "SELECT max(attempt) FROM attempts WHERE run_id = $1",
                &[&run_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
        max.map(|v| to_u32(v, "attempt")).transpose()
    }

    fn unfinished_ids(&self, study: &str) -> Result<Vec<String>, StoreError> {
        self.conn()?
            .query(
                "SELECT id FROM runs WHERE study = $1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
                   AND state IN ('pending', 'running', 'cancelled')",
                &[&study],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}

/// An error writing COPY data: the server's own error when it sent one (the
/// writer wraps it in an I/O error), so its detail and hint are not lost.
fn copy_error(e: std::io::Error) -> StoreError {
    if !e
        .get_ref()
        .is_some_and(|inner| inner.is::<postgres::Error>())
    {
        return StoreError::Io(e);
    }
    match e
        .into_inner()
        .map(|inner| inner.downcast::<postgres::Error>())
    {
        Some(Ok(pg)) => StoreError::Postgres(*pg),
        _ => StoreError::Io(std::io::Error::other("COPY to PostgreSQL failed")),
    }
}

/// A 64-bit hash of a run id, to notice repeated ids in a plan cheaply.
fn hash_id(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db.example:5432/sims?sslmode=disable"),
            "postgres://alice@db.example:5432/sims?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://bob:p%40ss@h/db?password=x&schema=s"),
            "postgresql://bob@h/db?schema=s"
        );
        assert_eq!(redact_url("postgres://h/db?password=x"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("host=h user=u password='a b\\' c' dbname=x"),
            "host=h user=u dbname=x"
        );
        assert_eq!(redact_url("host=h password=pw"), "host=h");
        assert_eq!(redact_url("/tmp/x.db"), "/tmp/x.db");
        assert_eq!(redact_url("host = h"), "host=h");
    }

    #[test]
    fn the_schema_parameter_is_simforges_own() {
        let (base, schema) =
            split_schema_param("postgres://u@h/db?sslmode=disable&schema=my%20runs").unwrap();
        assert_eq!(base, "postgres://u@h/db?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("my runs"));
        let (base, schema) = split_schema_param("postgres://u@h/db?schema=s").unwrap();
        assert_eq!(
            (base.as_str(), schema.as_deref()),
            ("postgres://u@h/db", Some("s"))
        );
        let (base, schema) = split_schema_param("postgres://u@h/db").unwrap();
        assert_eq!((base.as_str(), schema), ("postgres://u@h/db", None));
        assert!(split_schema_param("postgres://u@h/db?schema=%zz").is_err());
        assert_eq!(
            with_schema_param("postgres://u@h/db", "a b"),
            "postgres://u@h/db?schema=a%20b"
        );
        assert_eq!(
            with_schema_param("postgres://u@h/db?x=1", "s"),
            "postgres://u@h/db?x=1&schema=s"
        );
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_postgres_url("postgres://h/db"));
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url(".simforge/simforge.db"));
        assert!(!is_postgres_url("postgres"));
    }

    #[test]
    fn copy_text_escapes_what_copy_needs() {
        let mut out = Vec::new();
        copy_text(&mut out, "a\tb\\c\nd\re");
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error_without_the_password() {
        // Port 1 on the loopback: nothing listens there, so this needs no server.
        let err = PgStore::connect("postgres://u:topsecret@127.0.0.1:1/db?connect_timeout=2")
            .err()
            .expect("connecting to a closed port fails");
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Connect { .. }), "{msg}");
        assert!(msg.contains("postgres://u@127.0.0.1:1/db"), "{msg}");
        assert!(msg.contains("--database"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }
}
