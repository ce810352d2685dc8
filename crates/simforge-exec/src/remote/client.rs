//! A small blocking client of a simforge server's HTTP API, for the CLI's
//! remote commands (`simforge run STUDY --server URL`, `status`, `results`,
//! `logs`, `cancel`, `ping`) and for scripts: bearer-token requests with the
//! server's error shape turned into [`ClientError`], client profiles from
//! `~/.config/simforge/config.yaml`, and the files a study refers to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Why a request to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("{url}: {message}\n  hint: is the server up? check --server / SIMFORGE_SERVER")]
    Unreachable {
        /// The request URL.
        url: String,
        /// Transport error.
        message: String,
    },
    /// The server answered with an error.
    #[error("{url}: HTTP {status} {code}: {message}{}", hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Api {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's error code (`not_found`, `forbidden`, ...).
        code: String,
        /// The server's message.
        message: String,
        /// The server's hint, if any.
        hint: Option<String>,
    },
    /// A local file could not be read, or a profile file is invalid.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// A connection to one server with one token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// GETs `url` without credentials; returns the HTTP status (what Docker
/// health checks run through `simforge ping`).
pub fn ping(url: &str, timeout: Duration) -> Result<u16, ClientError> {
    match agent(timeout).get(url).call() {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(ClientError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        }),
    }
}

/// Percent-encodes one path segment (names, run ids).
pub fn segment(s: &str) -> String {
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

impl Client {
    /// A client of the server at `base` (e.g. `http://host:8080`).
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent: agent(Duration::from_secs(120)),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.cloned().unwrap_or(Value::Object(Default::default())))
            }
        };
        let mut resp = resp.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                message: format!("reading the answer: {e}"),
            })?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(Self::api_error(url, status, &text))
    }

    /// The error a non-2xx answer carries (`{error: {code, message, hint}}`).
    fn api_error(url: String, status: u16, text: &str) -> ClientError {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let e = &v["error"];
        ClientError::Api {
            url,
            status,
            code: e["code"].as_str().unwrap_or("error").to_string(),
            message: e["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| text.chars().take(500).collect()),
            hint: e["hint"].as_str().map(str::to_string),
        }
    }

    fn json(text: String, path: &str) -> Result<Value, ClientError> {
        serde_json::from_str(&text).map_err(|e| ClientError::Unreachable {
            url: path.to_string(),
            message: format!("the answer is not JSON: {e}"),
        })
    }

    /// GET `path` (under the base URL), as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        Self::json(self.send("GET", path, None)?, path)
    }

    /// GET `path`, as text (CSV, logs).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        self.send("GET", path, None)
    }

    /// POST `body` as JSON to `path`; the answer as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        Self::json(self.send("POST", path, Some(body))?, path)
    }

    /// Submits a study to `project`: its source, the files it refers to
    /// (relative path → text) and optionally another queue.
    pub fn submit(
        &self,
        project: &str,
        source: &str,
        source_name: &str,
        files: &BTreeMap<String, String>,
        queue: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut body = serde_json::json!({
            "source": source,
            "source_name": source_name,
            "files": files,
        });
        if let Some(q) = queue {
            body["queue"] = Value::String(q.to_string());
        }
        self.post(
            &format!("/api/v1/projects/{}/studies", segment(project)),
            &body,
        )
    }

    /// A study's progress (`counts` by state, `finished`, ...).
    pub fn study(&self, project: &str, name: &str) -> Result<Value, ClientError> {
        self.get(&format!(
            "/api/v1/projects/{}/studies/{}",
            segment(project),
            segment(name)
        ))
    }

    /// Writes a study's results to `out` in `format` (`csv`, `parquet` or
    /// `json-array`: the columns of `simforge results` on a local store);
    /// returns the bytes written. Streamed: nothing is held in memory.
    pub fn results_download(
        &self,
        project: &str,
        name: &str,
        format: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ClientError> {
        let path = format!(
            "/api/v1/projects/{}/studies/{}/results?format={format}",
            segment(project),
            segment(name)
        );
        self.download(&path, out)
    }

    /// GETs `path` and streams the answer's body into `out`.
    fn download(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut r = self.agent.get(&url);
        if let Some(t) = &self.token {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        let unreachable = |message: String| ClientError::Unreachable {
            url: url.clone(),
            message,
        };
        let mut resp = r.call().map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(Self::api_error(url.clone(), status, &text));
        }
        let mut body = resp.body_mut().with_config().limit(u64::MAX).reader();
        std::io::copy(&mut body, out).map_err(|e| unreachable(format!("downloading: {e}")))
    }

    /// Cancels a study's unfinished runs.
    pub fn cancel(&self, project: &str, name: &str) -> Result<Value, ClientError> {
        self.post(
            &format!(
                "/api/v1/projects/{}/studies/{}/cancel",
                segment(project),
                segment(name)
            ),
            &Value::Object(Default::default()),
        )
    }

    /// One run (id or unique prefix) with its attempts.
    pub fn run(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/runs/{}", segment(id)))
    }

    /// A run's artifacts: `{run_id, artifacts: [{attempt, path, sha256,
    /// size_bytes, created_at}]}`.
    pub fn artifacts(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/runs/{}/artifacts", segment(id)))
    }

    /// Writes one artifact of run `id` (the latest attempt's unless
    /// `attempt` is given) to `out`; returns the bytes written.
    pub fn artifact_download(
        &self,
        id: &str,
        path: &str,
        attempt: Option<i64>,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, ClientError> {
        let mut p = format!(
            "/api/v1/runs/{}/artifacts/download?path={}",
            segment(id),
            segment(path)
        );
        if let Some(a) = attempt {
            p.push_str(&format!("&attempt={a}"));
        }
        self.download(&p, out)
    }

    /// A run's stdout/stderr tails.
    pub fn logs(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/api/v1/runs/{}/logs", segment(id)))
    }
}

/// One named client profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Server base URL.
    #[serde(default)]
    pub server: Option<String>,
    /// API token.
    #[serde(default)]
    pub token: Option<String>,
    /// Default project.
    #[serde(default)]
    pub project: Option<String>,
}

/// The client profile file, `~/.config/simforge/config.yaml`:
/// `profiles: {NAME: {server, token, project}}` and `default_profile: NAME`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The profile used when none is named.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where the profile file is: `$SIMFORGE_CONFIG`, else
/// `$XDG_CONFIG_HOME/simforge/config.yaml`, else `~/.config/simforge/config.yaml`.
pub fn profile_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIMFORGE_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(x).join("simforge/config.yaml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/simforge/config.yaml"))
}

/// Loads the profile `name` (else the file's `default_profile`) from `path`.
/// A missing file gives an empty profile unless a name was asked for.
pub fn load_profile(path: &Path, name: Option<&str>) -> Result<Profile, ClientError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name.is_none() => {
            return Ok(Profile::default());
        }
        Err(e) => {
            return Err(ClientError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let file: ProfileFile = serde_saphyr::from_str(&text).map_err(|e| ClientError::File {
        path: path.to_path_buf(),
        message: format!("{e}\n  hint: expected `profiles: {{NAME: {{server: URL, token: T, project: P}}}}` and optionally `default_profile: NAME`"),
    })?;
    let chosen = name.map(str::to_string).or(file.default_profile.clone());
    match chosen {
        None => Ok(Profile::default()),
        Some(n) => file
            .profiles
            .get(&n)
            .cloned()
            .ok_or_else(|| ClientError::File {
                path: path.to_path_buf(),
                message: format!(
                    "no profile `{n}` (profiles there: {})",
                    file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }),
    }
}

/// The files a study refers to, relative to its directory, with their text:
/// `simulator.inputs` templates and file-valued builtin options that name an
/// existing file beside the study (such as sysdesign's `topology`).
pub fn study_files(
    study_file: &Path,
    source: &str,
) -> Result<BTreeMap<String, String>, ClientError> {
    let dir = study_file.parent().unwrap_or(Path::new("."));
    let doc: Value = serde_saphyr::from_str(source).unwrap_or(Value::Null);
    let mut rels = BTreeSet::new();
    let sim = &doc["simulator"];
    match &sim["inputs"] {
        Value::Object(m) => {
            for v in m.values() {
                if let Some(s) = v.as_str().or_else(|| v["template"].as_str()) {
                    rels.insert(s.to_string());
                }
            }
        }
        Value::Array(a) => {
            for v in a {
                if let Some(s) = v
                    .as_str()
                    .or_else(|| v["template"].as_str())
                    .or_else(|| v["from"].as_str())
                {
                    rels.insert(s.to_string());
                }
            }
        }
        _ => {}
    }
    if let Value::Object(m) = &sim["options"] {
        for v in m.values() {
            if let Some(s) = v.as_str() {
                rels.insert(s.to_string());
            }
        }
    }
    // A `table` design reads its points from a CSV beside the study.
    if let Some(s) = doc["design"]["file"].as_str() {
        rels.insert(s.to_string());
    }
    let mut out = BTreeMap::new();
    for rel in rels {
        let p = Path::new(&rel);
        if rel.is_empty()
            || p.is_absolute()
            || !p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let full = dir.join(p);
        if !full.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&full).map_err(|e| ClientError::File {
            path: full.clone(),
            message: e.to_string(),
        })?;
        out.insert(rel, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_sends_its_templates_and_file_valued_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("t")).expect("mkdir");
        std::fs::write(dir.path().join("t/in.j2"), "x={{ x }}").expect("template");
        std::fs::write(dir.path().join("system.yaml"), "components: {}").expect("topology");
        std::fs::write(dir.path().join("points.csv"), "x\n1\n2\n").expect("table");
        let study = dir.path().join("study.yaml");
        let source = "name: s\nsimulator:\n  builtin: sysdesign\n  options: {topology: system.yaml, mode: fast, up: ../x}\n  inputs: {in.txt: t/in.j2}\ndesign: {sampler: table, file: points.csv}\n";
        std::fs::write(&study, source).expect("study");
        let files = study_files(&study, source).expect("files");
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(names, ["points.csv", "system.yaml", "t/in.j2"]);
        assert_eq!(files["points.csv"], "x\n1\n2\n");
        assert_eq!(files["t/in.j2"], "x={{ x }}");
    }

    #[test]
    fn profiles_pick_by_name_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("config.yaml");
        std::fs::write(
            &f,
            "default_profile: a\nprofiles:\n  a: {server: \"http://a\", project: p}\n  b: {server: \"http://b\", token: t}\n",
        )
        .expect("write");
        assert_eq!(
            load_profile(&f, None).expect("a").server.as_deref(),
            Some("http://a")
        );
        assert_eq!(
            load_profile(&f, Some("b")).expect("b").token.as_deref(),
            Some("t")
        );
        assert!(load_profile(&f, Some("c")).is_err());
        let missing = dir.path().join("none.yaml");
        assert_eq!(
            load_profile(&missing, None).expect("empty"),
            Profile::default()
        );
        assert!(load_profile(&missing, Some("a")).is_err());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("run-1_x.y"), "run-1_x.y");
    }
}
