//! Projects and their members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::users::check_name;
use super::{ClientAddr, J, audit};
use crate::auth::{Action, Caller, Role, authorize};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// `POST /projects` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
}

/// Creates a project in the database (also used by `simforge admin`).
pub fn create_project_in(client: &mut impl postgres::GenericClient, name: &str) -> ApiResult<i64> {
    check_name(name, "name")?;
    client
        .query_opt(
            "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
            &[&name],
        )?
        .map(|r| r.get(0))
        .ok_or_else(|| {
            ApiError::conflict(format!("a project named `{name}` exists")).with_field("name")
        })
}

/// Gives `user` a role in `project` (also used by `simforge admin`).
pub fn set_member_in(
    client: &mut impl postgres::GenericClient,
    project: &str,
    user: &str,
    role: Role,
) -> ApiResult<()> {
    let n = client.execute(
        "INSERT INTO memberships (project_id, user_id, role)
         SELECT p.id, u.id, $3 FROM projects p, users u WHERE p.name = $1 AND u.name = $2
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        &[&project, &user, &role.as_str()],
    )?;
    if n == 0 {
        return Err(ApiError::not_found(format!(
            "no project `{project}` or no user `{user}`"
        )));
    }
    Ok(())
}

/// Creates a project (server admin).
pub async fn create(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    J(body): J<NewProject>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_server_admin("create projects")?;
    let out = state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            let id = create_project_in(&mut tx, &body.name)?;
            audit(
                &mut tx,
                Some(&caller),
                "project_create",
                &body.name,
                json!({}),
                &addr,
            )?;
            tx.commit()?;
            Ok(json!({"id": id, "name": body.name}))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Projects the caller can see, with their role.
pub async fn list(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "list projects")?;
    let rows = state
        .db
        .run(move |c| {
            Ok(c.client()
                .query(
                    "SELECT p.name, CASE WHEN $2 THEN 'admin' ELSE m.role END,
                       (SELECT count(*) FROM server_studies s WHERE s.project_id = p.id)
                     FROM projects p LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = $1
                     WHERE $2 OR m.role IS NOT NULL ORDER BY p.name",
                    &[&caller.user_id, &caller.is_admin],
                )?
                .iter()
                .map(|r| json!({"name": r.get::<_, String>(0), "role": r.get::<_, Option<String>>(1), "studies": r.get::<_, i64>(2)}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "projects": rows })))
}

/// A project's members (viewer).
pub async fn members(
    State(state): State<Shared>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let rows = state
        .db
        .run(move |c| {
            let client = c.client();
            let id = authorize(client, &caller, &project, Action::Read, "list members")?;
            Ok(client
                .query(
                    "SELECT u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.project_id = $1 ORDER BY u.name",
                    &[&id],
                )?
                .iter()
                .map(|r| json!({"user": r.get::<_, String>(0), "role": r.get::<_, String>(1)}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "members": rows })))
}

/// `PUT /projects/{p}/members/{user}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    role: String,
}

/// Sets a member's role (project admin).
pub async fn set_member(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, user)): Path<(String, String)>,
    J(body): J<Membership>,
) -> ApiResult<StatusCode> {
    let role = Role::parse(&body.role)?;
    state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            authorize(
                &mut tx,
                &caller,
                &project,
                Action::Administer,
                "manage members",
            )?;
            set_member_in(&mut tx, &project, &user, role)?;
            audit(
                &mut tx,
                Some(&caller),
                "member_set",
                &format!("{project}/{user}"),
                json!({"role": role.as_str()}),
                &addr,
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (project admin).
pub async fn remove_member(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .db
        .run(move |c| {
            let mut tx = c.client().transaction()?;
            let id = authorize(&mut tx, &caller, &project, Action::Administer, "manage members")?;
            let n = tx.execute(
                "DELETE FROM memberships WHERE project_id = $1 AND user_id = (SELECT id FROM users WHERE name = $2)",
                &[&id, &user],
            )?;
            if n == 0 {
                return Err(ApiError::not_found(format!("`{user}` is not a member of `{project}`")));
            }
            audit(&mut tx, Some(&caller), "member_remove", &format!("{project}/{user}"), json!({}), &addr)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
