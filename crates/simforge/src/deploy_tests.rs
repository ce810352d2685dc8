//! The deployment manifests agree with the CLI: every `simforge` command line
//! in deploy/compose.yaml, deploy/kubernetes/*.yaml (container `command:` /
//! `args:` lists, health checks, the bootstrap script's `$A ...` lines) and
//! the Dockerfile's CMD parses, and deploy/server.yaml loads as `prod`.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::Value;

use crate::cli::Cli;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn strs(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The simforge command lines of one parsed YAML document.
fn collect(v: &Value, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), strs(v)) {
                    ("command" | "args", Some(list)) => lines_of(&list, out),
                    ("test", Some(list)) if list.first().is_some_and(|c| c == "CMD") => {
                        lines_of(&list[1..], out)
                    }
                    _ => collect(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

fn is_simforge(s: &str) -> bool {
    s == "simforge" || s.ends_with("/simforge")
}

fn lines_of(list: &[String], out: &mut Vec<Vec<String>>) {
    match list.first().map(String::as_str) {
        None => {}
        Some(first) if is_simforge(first) => out.push(list.to_vec()),
        // Container args after the image's simforge entrypoint.
        Some(first) if !first.contains(char::is_whitespace) && !first.starts_with('/') => {
            let mut argv = vec!["simforge".to_string()];
            argv.extend(list.iter().cloned());
            out.push(argv);
        }
        // A shell script: `A="simforge admin ..."` then `$A ...` / `$$A ...` lines.
        Some(_) => {
            for script in list {
                let mut prefix: Option<Vec<String>> = None;
                for line in script.lines() {
                    let line = line.trim();
                    if let Some(a) = line.strip_prefix("A=") {
                        let words: Vec<String> = a
                            .trim_matches(|c| c == '"' || c == '\'')
                            .split_whitespace()
                            .map(str::to_string)
                            .collect();
                        prefix = Some(words);
                        continue;
                    }
                    let Some(at) = line
                        .find("$$A ")
                        .map(|i| i + 4)
                        .or(line.find("$A ").map(|i| i + 3))
                    else {
                        continue;
                    };
                    let rest = line[at..].split(['|', ';', '&']).next().unwrap_or_default();
                    let mut argv = prefix.clone().expect("`A=` before its use");
                    argv.extend(rest.split_whitespace().map(str::to_string));
                    out.push(argv);
                }
            }
        }
    }
}

fn parse_all(lines: &[Vec<String>], origin: &str) {
    assert!(
        !lines.is_empty(),
        "{origin}: no simforge command lines found"
    );
    for argv in lines {
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("{origin}: `{}` does not parse:\n{e}", argv.join(" "));
        }
    }
}

#[test]
fn compose_command_lines_parse() {
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).expect("compose.yaml");
    let doc: Value = serde_saphyr::from_str(&text).expect("compose.yaml is YAML");
    let mut lines = Vec::new();
    collect(&doc, &mut lines);
    assert!(lines.iter().any(|l| l.get(1).is_some_and(|c| c == "admin")));
    assert!(
        lines
            .iter()
            .any(|l| l.get(1).is_some_and(|c| c == "worker"))
    );
    assert!(lines.iter().any(|l| l.get(1).is_some_and(|c| c == "ping")));
    parse_all(&lines, "deploy/compose.yaml");
}

#[test]
fn kubernetes_command_lines_parse() {
    let dir = root().join("deploy/kubernetes");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/kubernetes") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("manifest");
        let mut lines = Vec::new();
        for doc in text.split("\n---") {
            let v: Value =
                serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            collect(&v, &mut lines);
        }
        parse_all(&lines, &path.display().to_string());
        n += lines.len();
    }
    assert!(n >= 2, "the server and at least one worker");
}

#[test]
fn dockerfile_cmd_parses() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let cmd = text
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("a CMD line");
    let list: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    let mut lines = Vec::new();
    lines_of(&list, &mut lines);
    parse_all(&lines, "Dockerfile");
}

#[test]
fn server_yaml_loads_as_prod() {
    let file = root().join("deploy/server.yaml");
    let cfg = simforge_server::config::load(Some(&file), Some("prod"), [])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.profile, "prod");
    assert_eq!(cfg.log_format, "json");
    assert!(cfg.auth.cookie_secure);
}
