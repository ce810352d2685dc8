//! Server configuration: a YAML file with optional per-profile sections,
//! overridden by environment variables, so one file serves dev, test and prod
//! and a container sets secrets through its environment.
//!
//! Precedence, lowest first: built-in defaults, the file's top level, the
//! file's `profiles.<profile>` section, then `SIMFORGE_SERVER__A__B=value`
//! variables (double underscore separates nesting; values are parsed as YAML
//! scalars, so `8`, `true` and `[a, b]` work).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "SIMFORGE_SERVER__";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or a value has the wrong type.
    #[error("{origin}: {message}\n  hint: see docs/server.md for every setting and its type")]
    Invalid {
        /// File (with line) or environment variable.
        origin: String,
        /// What was wrong.
        message: String,
    },
    /// The profile asked for is not in the file.
    #[error(
        "{path}: no profile `{profile}` (profiles there: {known}); pass one of those or add `profiles: {{{profile}: {{...}}}}`"
    )]
    UnknownProfile {
        /// File.
        path: String,
        /// Profile asked for.
        profile: String,
        /// Profiles in the file.
        known: String,
    },
}

/// Everything the server reads at start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Profile name (dev, test, prod): picks defaults and a file section.
    pub profile: String,
    /// Address to listen on.
    pub listen: String,
    /// The PostgreSQL database.
    pub database: DatabaseConfig,
    /// Where run artifacts, logs and datasets are kept.
    pub storage: StorageConfig,
    /// Worker leases.
    pub leases: LeaseConfig,
    /// Sessions and tokens.
    pub auth: AuthConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// The reporting ETL's schedule.
    pub etl: crate::etl::EtlConfig,
    /// Versioned datasets: limits, link signing, storage backend.
    pub datasets: crate::datasets::DatasetsConfig,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/db`.
    pub url: String,
    /// Schema holding simforge's tables (created if missing).
    pub schema: String,
    /// Connections in the pool.
    pub pool_size: u32,
}

/// Where files go.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Local directory for artifacts, logs and datasets.
    pub path: PathBuf,
}

/// Lease timing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseConfig {
    /// A lease not renewed for this long expires and its run goes back to pending.
    pub ttl_s: f64,
    /// How often expired leases are swept.
    pub sweep_s: f64,
    /// A run whose lease expires this many times fails (0: never), so a run
    /// that kills every worker it lands on is not retried forever.
    pub max_losses: u32,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a browser session.
    pub session_ttl_s: u64,
    /// Mark the session cookie `Secure` (HTTPS only); on in prod.
    pub cookie_secure: bool,
}

/// Request limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes.
    pub body_bytes: usize,
    /// Largest run artifact a worker may upload, bytes (artifact uploads
    /// are not bound by `body_bytes`).
    pub artifact_bytes: u64,
    /// A request taking longer is answered 408.
    pub request_timeout_s: f64,
    /// Requests per minute per token (or per address when anonymous); 0: no limit.
    pub rate_per_minute: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            profile: "dev".into(),
            listen: "127.0.0.1:8080".into(),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            leases: LeaseConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            cors_origins: vec![],
            log_format: "text".into(),
            etl: Default::default(),
            datasets: Default::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "postgres://postgres@127.0.0.1:5432/simforge".into(),
            schema: "simforge".into(),
            pool_size: 16,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("simforge-data"),
        }
    }
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            ttl_s: 30.0,
            sweep_s: 2.0,
            max_losses: 3,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl_s: 12 * 3600,
            cookie_secure: false,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            body_bytes: 64 << 20,
            artifact_bytes: 4 << 30,
            request_timeout_s: 60.0,
            rate_per_minute: 0,
        }
    }
}

impl LeaseConfig {
    /// The lease time-to-live.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs_f64(self.ttl_s.max(0.1))
    }
}

/// Defaults a profile changes before the file is applied.
fn profile_defaults(profile: &str) -> Value {
    match profile {
        "prod" => serde_json::json!({
            "auth": {"cookie_secure": true},
            "log_format": "json",
            "listen": "0.0.0.0:8080",
            "limits": {"rate_per_minute": 6000},
        }),
        "test" => serde_json::json!({"leases": {"ttl_s": 3.0, "sweep_s": 0.5}}),
        _ => serde_json::json!({}),
    }
}

/// Loads the configuration: `file` if given, the profile (`profile`, else the
/// file's `profile`, else `SIMFORGE_SERVER__PROFILE`, else `dev`), then the
/// environment `env` (pass `std::env::vars()`).
pub fn load(
    file: Option<&Path>,
    profile: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<ServerConfig, ConfigError> {
    let mut doc = Value::Object(Default::default());
    let origin = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "defaults".into());
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        doc = serde_saphyr::from_str::<Value>(&text).map_err(|e| ConfigError::Invalid {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        if doc.is_null() {
            doc = Value::Object(Default::default());
        }
    }
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    let env_profile = env
        .iter()
        .find(|(k, _)| k == &format!("{ENV_PREFIX}PROFILE"))
        .map(|(_, v)| v.clone());
    let profiles = match &mut doc {
        Value::Object(m) => m.remove("profiles"),
        _ => {
            return Err(ConfigError::Invalid {
                origin,
                message: "expected a mapping of settings at the top level".into(),
            });
        }
    };
    let chosen = profile
        .map(str::to_string)
        .or(env_profile)
        .or_else(|| {
            doc.get("profile")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "dev".into());
    let mut merged = profile_defaults(&chosen);
    merge(&mut merged, doc);
    match profiles.as_ref().and_then(|p| p.get(&chosen)) {
        Some(section) => merge(&mut merged, section.clone()),
        None => {
            if let Some(Value::Object(p)) = &profiles
                && !p.is_empty()
            {
                return Err(ConfigError::UnknownProfile {
                    path: origin,
                    profile: chosen,
                    known: p.keys().cloned().collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    for (key, value) in env {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let parsed: Value = serde_saphyr::from_str(&value).unwrap_or(Value::String(value.clone()));
        let parsed = if parsed.is_null() {
            Value::String(value)
        } else {
            parsed
        };
        set_path(&mut merged, &path, parsed);
    }
    if let Value::Object(m) = &mut merged {
        m.insert("profile".into(), Value::String(chosen));
    }
    serde_path_to_error::deserialize::<_, ServerConfig>(merged).map_err(|e| ConfigError::Invalid {
        origin,
        message: format!("`{}`: {}", e.path(), e.inner()),
    })
}

/// Deep-merges `over` into `base` (mappings merge; anything else replaces).
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn set_path(doc: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = doc;
    for p in parents {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else { return };
        cur = m
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    if let Value::Object(m) = cur {
        m.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_profile_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("server.yaml");
        std::fs::write(
            &f,
            "listen: 127.0.0.1:9000\ndatabase: {url: postgres://a@h/db}\n\
             profiles:\n  prod: {database: {pool_size: 40}}\n  dev: {}\n",
        )
        .unwrap();
        let c = load(
            Some(&f),
            Some("prod"),
            env(&[("SIMFORGE_SERVER__LEASES__TTL_S", "12.5"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(c.profile, "prod");
        assert_eq!(
            c.listen, "127.0.0.1:9000",
            "the file beats profile defaults"
        );
        assert_eq!(c.database.url, "postgres://a@h/db");
        assert_eq!(c.database.pool_size, 40);
        assert!(c.auth.cookie_secure, "prod defaults to secure cookies");
        assert_eq!(c.log_format, "json");
        assert_eq!(c.leases.ttl_s, 12.5);
    }

    #[test]
    fn unknown_setting_and_profile_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("server.yaml");
        std::fs::write(&f, "leases: {ttl: 3}\n").unwrap();
        let e = load(Some(&f), None, env(&[])).unwrap_err().to_string();
        assert!(e.contains("leases") && e.contains("ttl"), "{e}");
        std::fs::write(&f, "profiles: {prod: {}}\n").unwrap();
        let e = load(Some(&f), Some("staging"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no profile `staging`") && e.contains("prod"),
            "{e}"
        );
        let e = load(
            None,
            None,
            env(&[("SIMFORGE_SERVER__LEASES__TTL_S", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("leases.ttl_s"), "{e}");
    }
}
