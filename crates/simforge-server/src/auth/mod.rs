//! Who is calling and what they may do.
//!
//! A caller is a user, identified by an API token (`Authorization: Bearer`)
//! or a browser session cookie. What a caller may do in a project is the
//! smaller of their role there and their token's scopes:
//!
//! | action | viewer | member | admin | token scope |
//! |---|---|---|---|---|
//! | read studies, runs, results, logs | yes | yes | yes | read |
//! | submit a study | | yes | yes | submit |
//! | cancel one's own study | | yes | yes | submit |
//! | cancel another's study, delete a study, manage members | | | yes | admin |
//!
//! Server administrators (`users.is_admin`) act as project admins everywhere
//! and alone create users and projects and read the audit log. Workers use a
//! token with the `worker` scope, which grants only the worker protocol.

pub mod password;
pub mod tokens;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "simforge_session";
/// How long a looked-up token is trusted before it is checked again.
const CACHE_TTL: Duration = Duration::from_secs(10);

/// A role in a project, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything in the project.
    Viewer,
    /// Also submits studies and cancels their own.
    Member,
    /// Also cancels and deletes any study and manages members.
    Admin,
}

impl Role {
    /// Parses `viewer`, `member` or `admin`.
    pub fn parse(s: &str) -> ApiResult<Role> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            _ => Err(ApiError::invalid(format!("unknown role `{s}`"))
                .with_field("role")
                .with_hint("roles: viewer, member, admin")),
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

/// Something a caller asks to do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read studies, runs, results, logs.
    Read,
    /// Submit a study.
    Submit,
    /// Cancel a study; `own` when the caller submitted it.
    Cancel {
        /// Whether the caller owns the study.
        own: bool,
    },
    /// Delete a study, manage members.
    Administer,
}

impl Action {
    fn min_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Submit | Action::Cancel { own: true } => Role::Member,
            Action::Cancel { own: false } | Action::Administer => Role::Admin,
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Submit | Action::Cancel { own: true } => "submit",
            Action::Cancel { own: false } | Action::Administer => "admin",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub name: String,
    /// Server administrator.
    pub is_admin: bool,
    /// The token's scopes (a session has every scope but `worker`).
    pub scopes: Vec<String>,
    /// The token's id.
    pub token_id: i64,
}

impl Caller {
    /// Whether the token carries `scope`; `admin` implies `submit` implies `read`.
    pub fn has_scope(&self, scope: &str) -> bool {
        let rank = |s: &str| match s {
            "read" => 1,
            "submit" => 2,
            "admin" => 3,
            _ => 0,
        };
        self.scopes
            .iter()
            .any(|s| s == scope || (rank(scope) > 0 && rank(s) >= rank(scope)))
    }

    /// Allows `action` for a caller with `role` in the project (None: not a member).
    /// Non-members get 404 so project names do not leak; members lacking the
    /// role get 403.
    pub fn allow(&self, role: Option<Role>, action: Action, what: &str) -> ApiResult<()> {
        if !self.has_scope(action.scope()) {
            return Err(ApiError::forbidden(format!(
                "this token lacks the `{}` scope needed to {what}",
                action.scope()
            ))
            .with_hint("create a token with that scope (POST /api/v1/tokens)"));
        }
        let role = if self.is_admin {
            Some(Role::Admin)
        } else {
            role
        };
        match role {
            None => Err(ApiError::not_found(format!("no such project (to {what})"))),
            Some(r) if r >= action.min_role() => Ok(()),
            Some(r) => Err(ApiError::forbidden(format!(
                "a project {} may not {what}; it needs the {} role",
                r.as_str(),
                action.min_role().as_str()
            ))),
        }
    }

    /// Requires a server administrator (with the admin scope).
    pub fn require_server_admin(&self, what: &str) -> ApiResult<()> {
        if self.is_admin && self.has_scope("admin") {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only a server administrator may {what}"
            )))
        }
    }

    /// Requires the worker scope.
    pub fn require_worker(&self) -> ApiResult<()> {
        if self.scopes.iter().any(|s| s == "worker") {
            Ok(())
        } else {
            Err(ApiError::forbidden("the worker protocol needs a token with the `worker` scope")
                .with_hint("an administrator creates one: `simforge admin token --user NAME --scope worker`"))
        }
    }
}

/// Recently checked tokens, so a busy worker or uploader costs no database
/// round trip per request. Revoking a token clears the cache.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Caller> {
        let map = self.entries.lock().ok()?;
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(hash, (caller, Instant::now()));
        }
    }

    /// Forgets every cached token (after a revocation or a user change).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

/// The bearer token or session cookie of a request, if any.
pub fn presented_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION)
        && let Ok(v) = v.to_str()
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    for v in parts.headers.get_all(axum::http::header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=')
                && k == SESSION_COOKIE
            {
                return Some(val.to_string());
            }
        }
    }
    None
}

/// Looks a token up: unknown, revoked, expired tokens and disabled users fail.
pub fn lookup(client: &mut postgres::Client, hash: &str) -> ApiResult<Option<Caller>> {
    let row = client.query_opt(
        "SELECT t.id, t.scopes, u.id, u.name, u.is_admin
         FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled
           AND (t.expires_at IS NULL OR t.expires_at > now())",
        &[&hash],
    )?;
    let Some(row) = row else { return Ok(None) };
    let token_id: i64 = row.get(0);
    client.execute(
        "UPDATE tokens SET last_used_at = now() WHERE id = $1
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        &[&token_id],
    )?;
    Ok(Some(Caller {
        token_id,
        scopes: row.get(1),
        user_id: row.get(2),
        name: row.get(3),
        is_admin: row.get(4),
    }))
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> ApiResult<Caller> {
        let Some(token) = presented_token(parts) else {
            return Err(ApiError::unauthenticated("no credentials"));
        };
        let hash = tokens::token_hash(&token);
        if let Some(c) = state.tokens.get(&hash) {
            return Ok(c);
        }
        let h = hash.clone();
        let found = state.db.run(move |c| lookup(c.client(), &h)).await?;
        match found {
            Some(c) => {
                state.tokens.put(hash, c.clone());
                Ok(c)
            }
            None => Err(ApiError::unauthenticated(
                "the token is unknown, revoked or expired",
            )),
        }
    }
}

/// The caller's role in a project, and the project's id.
pub fn project_role(
    client: &mut impl postgres::GenericClient,
    caller: &Caller,
    project: &str,
) -> ApiResult<Option<(i64, Option<Role>)>> {
    let row = client.query_opt(
        "SELECT p.id, m.role FROM projects p
         LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = $2
         WHERE p.name = $1",
        &[&project, &caller.user_id],
    )?;
    match row {
        None => Ok(None),
        Some(r) => {
            let role: Option<String> = r.get(1);
            Ok(Some((r.get(0), role.map(|s| Role::parse(&s)).transpose()?)))
        }
    }
}

/// Resolves a project and checks `action` in one step: the project's id.
pub fn authorize(
    client: &mut impl postgres::GenericClient,
    caller: &Caller,
    project: &str,
    action: Action,
    what: &str,
) -> ApiResult<i64> {
    match project_role(client, caller, project)? {
        Some((id, role)) => {
            caller.allow(role, action, what)?;
            Ok(id)
        }
        None => {
            // Same answer as for a project the caller is not in.
            caller.allow(None, action, what)?;
            Err(ApiError::not_found(format!("no project `{project}`")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(scopes: &[&str], admin: bool) -> Caller {
        Caller {
            user_id: 1,
            name: "u".into(),
            is_admin: admin,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_id: 1,
        }
    }

    #[test]
    fn role_and_scope_both_bound_what_a_caller_may_do() {
        let full = caller(&["admin"], false);
        use Action::*;
        let actions = [
            Read,
            Submit,
            Cancel { own: true },
            Cancel { own: false },
            Administer,
        ];
        let expect = |role: Option<Role>| -> Vec<bool> {
            actions
                .iter()
                .map(|a| full.allow(role, *a, "x").is_ok())
                .collect()
        };
        assert_eq!(expect(None), [false; 5]);
        assert_eq!(
            expect(Some(Role::Viewer)),
            [true, false, false, false, false]
        );
        assert_eq!(expect(Some(Role::Member)), [true, true, true, false, false]);
        assert_eq!(expect(Some(Role::Admin)), [true; 5]);
        let read_only = caller(&["read"], false);
        assert!(read_only.allow(Some(Role::Admin), Read, "x").is_ok());
        assert_eq!(
            read_only
                .allow(Some(Role::Admin), Submit, "x")
                .unwrap_err()
                .code,
            "forbidden"
        );
        let worker = caller(&["worker"], true);
        assert!(worker.allow(Some(Role::Admin), Read, "x").is_err());
        assert!(worker.require_worker().is_ok());
        assert!(caller(&["admin"], true).require_server_admin("x").is_ok());
        assert!(caller(&["submit"], true).require_server_admin("x").is_err());
        assert_eq!(full.allow(None, Read, "x").unwrap_err().code, "not_found");
    }
}
