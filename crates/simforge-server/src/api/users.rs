//! Users, sessions, API tokens and the audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ClientAddr, J, Page, Q, audit};
use crate::auth::password::{hash_password, verify_password};
use crate::auth::tokens::{check_scopes, new_token, token_hash};
use crate::auth::{Caller, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// `POST /auth/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    name: String,
    password: String,
}

/// Creates a session for a user and password: a short-lived token, set as an
/// HttpOnly, SameSite=Strict cookie (Secure in prod) and returned for the CLI.
pub async fn login(
    State(state): State<Shared>,
    ClientAddr(addr): ClientAddr,
    J(body): J<Login>,
) -> ApiResult<impl IntoResponse> {
    let ttl = state.config.auth.session_ttl_s as f64;
    let secure = state.config.auth.cookie_secure;
    let (token, expires) = state
        .db
        .run(move |c| {
            let client = c.client();
            let row = client.query_opt(
                "SELECT id, password_hash FROM users WHERE name = $1 AND NOT disabled",
                &[&body.name],
            )?;
            let ok = row.as_ref().is_some_and(|r| {
                r.get::<_, Option<String>>(1)
                    .is_some_and(|h| verify_password(&body.password, &h))
            });
            let Some(row) = row.filter(|_| ok) else {
                audit(client, None, "login_failed", &body.name, json!({}), &addr)?;
                return Err(ApiError::unauthenticated("wrong user name or password"));
            };
            let user_id: i64 = row.get(0);
            let token = new_token()?;
            let scopes = vec!["read".to_string(), "submit".into(), "admin".into()];
            let expires: String = client
                .query_one(
                    "INSERT INTO tokens (user_id, name, kind, hash, prefix, scopes, expires_at)
                     VALUES ($1, 'session', 'session', $2, $3, $4, now() + make_interval(secs => $5))
                     RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                    &[&user_id, &token_hash(&token), &token[..12].to_string(), &scopes, &ttl],
                )?
                .get(0);
            let caller = Caller {
                user_id,
                name: body.name.clone(),
                is_admin: false,
                scopes: vec![],
                token_id: 0,
            };
            audit(client, Some(&caller), "login", &body.name, json!({}), &addr)?;
            Ok((token, expires))
        })
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl as u64,
        if secure { "; Secure" } else { "" }
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((
        headers,
        Json(json!({"token": token, "expires_at": expires})),
    ))
}

/// Ends the caller's session (or revokes the token used).
pub async fn logout(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
) -> ApiResult<impl IntoResponse> {
    let id = caller.token_id;
    state
        .db
        .run(move |c| {
            let client = c.client();
            client.execute("UPDATE tokens SET revoked_at = now() WHERE id = $1", &[&id])?;
            audit(
                client,
                Some(&caller),
                "logout",
                &caller.name,
                json!({}),
                &addr,
            )
        })
        .await?;
    state.tokens.clear();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static("simforge_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok((headers, StatusCode::NO_CONTENT))
}

/// The caller and their project roles.
pub async fn me(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    let uid = caller.user_id;
    let roles = state
        .db
        .run(move |c| {
            Ok(c.client()
                .query(
                    "SELECT p.name, m.role FROM memberships m JOIN projects p ON p.id = m.project_id
                     WHERE m.user_id = $1 ORDER BY p.name",
                    &[&uid],
                )?
                .iter()
                .map(|r| json!({"project": r.get::<_, String>(0), "role": r.get::<_, String>(1)}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({
        "name": caller.name,
        "is_admin": caller.is_admin,
        "scopes": caller.scopes,
        "projects": roles,
    })))
}

/// `POST /users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    password: Option<String>,
    #[serde(default)]
    admin: bool,
}

/// Checks a user or project name: 1–64 of `[A-Za-z0-9._-]`, starting alphanumeric.
pub fn check_name(name: &str, field: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("`{name}` is not a valid name"))
            .with_field(field)
            .with_hint(
                "use 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
            ))
    }
}

/// Creates a user in the database (also used by `simforge admin`).
pub fn create_user_in(
    client: &mut impl postgres::GenericClient,
    name: &str,
    password: Option<&str>,
    admin: bool,
) -> ApiResult<i64> {
    check_name(name, "name")?;
    let hash = password.map(hash_password).transpose()?;
    let row = client.query_opt(
        "INSERT INTO users (name, password_hash, is_admin) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING id",
        &[&name, &hash, &admin],
    )?;
    row.map(|r| r.get(0)).ok_or_else(|| {
        ApiError::conflict(format!("a user named `{name}` exists")).with_field("name")
    })
}

/// Creates a user (server admin).
pub async fn create_user(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    J(body): J<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_server_admin("create users")?;
    let out = state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            let id = create_user_in(&mut tx, &body.name, body.password.as_deref(), body.admin)?;
            audit(
                &mut tx,
                Some(&caller),
                "user_create",
                &body.name,
                json!({"admin": body.admin}),
                &addr,
            )?;
            tx.commit()?;
            Ok(json!({"id": id, "name": body.name, "is_admin": body.admin}))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Lists users (server admin).
pub async fn list_users(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_server_admin("list users")?;
    let users = state
        .db
        .run(|c| {
            Ok(c.client()
                .query("SELECT name, is_admin, disabled FROM users ORDER BY name", &[])?
                .iter()
                .map(|r| {
                    json!({"name": r.get::<_, String>(0), "is_admin": r.get::<_, bool>(1), "disabled": r.get::<_, bool>(2)})
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "users": users })))
}

/// `PATCH /users/{name}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    password: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

/// Changes a user: password (the user or a server admin), admin flag and
/// disabled flag (server admin).
pub async fn update_user(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path(name): Path<String>,
    J(body): J<UserChange>,
) -> ApiResult<StatusCode> {
    if body.admin.is_some() || body.disabled.is_some() || name != caller.name {
        caller.require_server_admin("change another user or a user's admin and disabled flags")?;
    } else if !caller.has_scope("admin") {
        return Err(ApiError::forbidden(
            "changing a password needs the `admin` scope (log in)",
        ));
    }
    state
        .db
        .run(move |c| {
            let hash = body.password.as_deref().map(hash_password).transpose()?;
            let mut tx = c.client().transaction()?;
            let n = tx.execute(
                "UPDATE users SET password_hash = coalesce($2, password_hash), is_admin = coalesce($3, is_admin),
                   disabled = coalesce($4, disabled) WHERE name = $1",
                &[&name, &hash, &body.admin, &body.disabled],
            )?;
            if n == 0 {
                return Err(ApiError::not_found(format!("no user `{name}`")));
            }
            audit(
                &mut tx,
                Some(&caller),
                "user_update",
                &name,
                json!({"password": hash.is_some(), "admin": body.admin, "disabled": body.disabled}),
                &addr,
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<f64>,
    /// Server admins may create a token for another user (e.g. a worker account).
    user: Option<String>,
}

/// Issues an API token (shown once, stored hashed) in the database: also used
/// by `simforge admin token`.
pub fn create_token_in(
    client: &mut impl postgres::GenericClient,
    user: &str,
    name: &str,
    scopes: &[String],
    expires_in_days: Option<f64>,
) -> ApiResult<(i64, String)> {
    check_scopes(scopes)?;
    if let Some(d) = expires_in_days
        && !(d > 0.0 && d.is_finite())
    {
        return Err(
            ApiError::invalid("expires_in_days must be a positive number")
                .with_field("expires_in_days"),
        );
    }
    let token = new_token()?;
    let secs = expires_in_days.map(|d| d * 86400.0);
    let row = client.query_opt(
        "INSERT INTO tokens (user_id, name, kind, hash, prefix, scopes, expires_at)
         SELECT id, $2, 'api', $3, $4, $5, CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $6) END
         FROM users WHERE name = $1 RETURNING id",
        &[&user, &name, &token_hash(&token), &token[..12].to_string(), &scopes, &secs],
    )?;
    let id = row
        .map(|r| r.get(0))
        .ok_or_else(|| ApiError::not_found(format!("no user `{user}`")).with_field("user"))?;
    Ok((id, token))
}

/// Creates a token for the caller (or, for a server admin, another user). A
/// token never carries a scope the calling token lacks; `worker` tokens are
/// issued by server admins only.
pub async fn create_token(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    J(body): J<NewToken>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    for s in &body.scopes {
        let allowed = if s == "worker" {
            caller.is_admin && caller.has_scope("admin")
        } else {
            caller.has_scope(s)
        };
        if !allowed && crate::auth::tokens::SCOPES.contains(&s.as_str()) {
            return Err(ApiError::forbidden(format!(
                "this token may not create a token with the `{s}` scope"
            ))
            .with_field("scopes"));
        }
    }
    let user = match &body.user {
        Some(u) if *u != caller.name => {
            caller.require_server_admin("create a token for another user")?;
            u.clone()
        }
        _ => caller.name.clone(),
    };
    let out = state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            let (id, token) = create_token_in(
                &mut tx,
                &user,
                &body.name,
                &body.scopes,
                body.expires_in_days,
            )?;
            audit(
                &mut tx,
                Some(&caller),
                "token_create",
                &user,
                json!({"id": id, "name": body.name, "scopes": body.scopes}),
                &addr,
            )?;
            tx.commit()?;
            Ok(
                json!({"id": id, "token": token, "name": body.name, "scopes": body.scopes,
                      "note": "store this token now: it is not shown again"}),
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// The caller's tokens (never their secrets).
pub async fn list_tokens(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    let uid = caller.user_id;
    let tokens = state
        .db
        .run(move |c| {
            Ok(c.client()
                .query(
                    "SELECT id, name, kind, prefix, scopes, created_at::text, expires_at::text, last_used_at::text,
                            revoked_at IS NOT NULL FROM tokens WHERE user_id = $1 ORDER BY id",
                    &[&uid],
                )?
                .iter()
                .map(|r| {
                    json!({"id": r.get::<_, i64>(0), "name": r.get::<_, String>(1), "kind": r.get::<_, String>(2),
                           "prefix": r.get::<_, String>(3), "scopes": r.get::<_, Vec<String>>(4),
                           "created_at": r.get::<_, String>(5), "expires_at": r.get::<_, Option<String>>(6),
                           "last_used_at": r.get::<_, Option<String>>(7), "revoked": r.get::<_, bool>(8)})
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "tokens": tokens })))
}

/// Revokes one of the caller's tokens (a server admin may revoke any).
pub async fn revoke_token(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            let n = tx.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND (user_id = $2 OR $3)",
                &[&id, &caller.user_id, &(caller.is_admin && caller.has_scope("admin"))],
            )?;
            if n == 0 {
                return Err(ApiError::not_found(format!("no token {id} of yours")));
            }
            audit(&mut tx, Some(&caller), "token_revoke", &id.to_string(), json!({}), &addr)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /audit` filters.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The audit log, newest first (server admin).
pub async fn audit_log(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_server_admin("read the audit log")?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds();
    let rows = state
        .db
        .run(move |c| {
            let since = q.since.unwrap_or_else(|| "-infinity".into());
            Ok(c.client()
                .query(
                    "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), user_name, action, target, detail, address
                     FROM audit WHERE ($1::text IS NULL OR user_name = $1) AND ($2::text IS NULL OR action = $2)
                       AND at >= $3::text::timestamptz
                     ORDER BY id DESC LIMIT $4 OFFSET $5",
                    &[&q.user, &q.action, &since, &limit, &offset],
                )
                .map_err(|e| {
                    if e.as_db_error().is_some() {
                        ApiError::invalid("`since` is not a timestamp").with_field("since")
                    } else {
                        e.into()
                    }
                })?
                .iter()
                .map(|r| {
                    json!({"id": r.get::<_, i64>(0), "at": r.get::<_, String>(1), "user": r.get::<_, Option<String>>(2),
                           "action": r.get::<_, String>(3), "target": r.get::<_, String>(4),
                           "detail": r.get::<_, Value>(5), "address": r.get::<_, Option<String>>(6)})
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "entries": rows })))
}
