//! `simforge admin`: bootstrap and repair without the HTTP API — the first
//! administrator, projects, memberships and tokens — straight on the
//! database the server uses. Each command is one transaction and is written
//! to the audit log as done by `admin-cli`.

use serde_json::json;

use crate::api::audit;
use crate::api::projects::{create_project_in, set_member_in};
use crate::api::users::{create_token_in, create_user_in};
use crate::auth::Role;
use crate::db::Db;
use crate::error::ApiResult;

fn local() -> String {
    format!("admin-cli@{}", simforge_exec::runner::hostname())
}

/// Creates a user (an administrator with `admin`).
pub fn create_user(db: &Db, name: &str, password: Option<&str>, admin: bool) -> ApiResult<i64> {
    let mut c = db.get()?;
    let mut tx = c.client().transaction()?;
    let id = create_user_in(&mut tx, name, password, admin)?;
    audit(
        &mut tx,
        None,
        "user_create",
        name,
        json!({"admin": admin, "via": "simforge admin"}),
        &local(),
    )?;
    tx.commit()?;
    Ok(id)
}

/// Creates a project.
pub fn create_project(db: &Db, name: &str) -> ApiResult<i64> {
    let mut c = db.get()?;
    let mut tx = c.client().transaction()?;
    let id = create_project_in(&mut tx, name)?;
    audit(
        &mut tx,
        None,
        "project_create",
        name,
        json!({"via": "simforge admin"}),
        &local(),
    )?;
    tx.commit()?;
    Ok(id)
}

/// Gives a user a role in a project.
pub fn set_member(db: &Db, project: &str, user: &str, role: &str) -> ApiResult<()> {
    let role = Role::parse(role)?;
    let mut c = db.get()?;
    let mut tx = c.client().transaction()?;
    set_member_in(&mut tx, project, user, role)?;
    audit(
        &mut tx,
        None,
        "member_set",
        &format!("{project}/{user}"),
        json!({"role": role.as_str(), "via": "simforge admin"}),
        &local(),
    )?;
    tx.commit()?;
    Ok(())
}

/// Issues a token for a user; returns (id, token).
pub fn create_token(
    db: &Db,
    user: &str,
    name: &str,
    scopes: &[String],
    expires_in_days: Option<f64>,
) -> ApiResult<(i64, String)> {
    let mut c = db.get()?;
    let mut tx = c.client().transaction()?;
    let out = create_token_in(&mut tx, user, name, scopes, expires_in_days)?;
    audit(
        &mut tx,
        None,
        "token_create",
        user,
        json!({"id": out.0, "name": name, "scopes": scopes, "via": "simforge admin"}),
        &local(),
    )?;
    tx.commit()?;
    Ok(out)
}
