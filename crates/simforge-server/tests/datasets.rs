//! Versioned datasets against a real server and PostgreSQL: uploads of every
//! supported format with their metadata, versioning and deduplication,
//! content stored once, signed links (download, expiry, tampering), roles,
//! limits, and a 50 MB upload that must not be held in memory.
//!
//! The S3 backend is tested against an S3-compatible server named by
//! `SIMFORGE_TEST_S3_URL` (CI runs moto's `moto_server`, an S3 *emulator*,
//! not AWS; see docs/server.md); without it that test skips.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use common::{Http, TestServer, pg_url};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use simforge_server::config::ServerConfig;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simforge-formats/tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sha_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A NumPy `.npy` (format 1.0) of float64 values.
fn npy_f8(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for x in data {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

const VTK: &str = "# vtk DataFile Version 3.0\ntriangle\nASCII\nDATASET POLYDATA\nPOINTS 3 float\n0 0 0\n1 0 0\n0 1 0\n\
                   POLYGONS 1 4\n3 0 1 2\nPOINT_DATA 3\nSCALARS t float 1\nLOOKUP_TABLE default\n1 2 3\n";

/// Raw-body HTTP calls the JSON helper cannot make.
struct Raw {
    agent: ureq::Agent,
    base: String,
}

impl Raw {
    fn new(base: &str) -> Raw {
        Raw {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
            base: base.to_string(),
        }
    }

    /// Uploads `body` as dataset `name` of `project`.
    fn upload(
        &self,
        token: Option<&str>,
        project: &str,
        name: &str,
        file_name: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let url = format!(
            "{}/api/v1/projects/{project}/datasets/{name}?file_name={file_name}",
            self.base
        );
        let mut r = self
            .agent
            .post(&url)
            .header("Content-Type", "application/octet-stream");
        if let Some(t) = token {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = r.send(body).unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET of a path or absolute URL without a token: status, headers of
    /// interest, and the body's SHA-256 and length (read as a stream).
    fn download(&self, url: &str) -> (u16, String, String, u64) {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let mut resp = self.agent.get(&url).call().unwrap();
        let status = resp.status().as_u16();
        let disposition = resp
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut reader = resp.body_mut().as_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = reader.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            hasher.update(&buf[..k]);
            n += k as u64;
        }
        let sha = hasher
            .finalize()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        (status, disposition, sha, n)
    }
}

struct World {
    server: TestServer,
    http: Http,
    raw: Raw,
    root: String,
    member: String,
    viewer: String,
    outsider: String,
    worker: String,
}

fn world(pg: &str) -> World {
    let server = TestServer::start(pg, 30.0);
    let db = &server.state.db;
    let root = server.user("root", true, &["admin"]);
    simforge_server::admin::create_project(db, "p1").unwrap();
    simforge_server::admin::create_project(db, "p2").unwrap();
    let tok = |who: &str, project: &str, role: &str, scopes: &[&str]| {
        let t = server.user(who, false, scopes);
        simforge_server::admin::set_member(db, project, who, role).unwrap();
        t
    };
    let member = tok("member", "p1", "member", &["admin"]);
    let viewer = tok("viewer", "p1", "viewer", &["admin"]);
    let outsider = tok("outsider", "p2", "admin", &["admin"]);
    let worker = tok("robot", "p1", "admin", &["worker"]);
    let http = Http::new(&server.url);
    let raw = Raw::new(&server.url);
    World {
        server,
        http,
        raw,
        root,
        member,
        viewer,
        outsider,
        worker,
    }
}

/// Blob files on disk under the local store.
fn blobs_on_disk(storage: &Path) -> BTreeSet<String> {
    std::fs::read_dir(storage.join("datasets/blobs"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn audits(w: &World, action: &str) -> i64 {
    let mut c = w.server.state.db.get().unwrap();
    c.client()
        .query_one("SELECT count(*) FROM audit WHERE action = $1", &[&action])
        .unwrap()
        .get(0)
}

#[test]
fn formats_versions_dedup_links_and_roles() {
    let Some(pg) = pg_url() else { return };
    let w = world(&pg);
    let m = Some(w.member.as_str());

    // Each format, described on upload.
    let csv1 = b"x,y,label\n1,2.5,a\n2,3.5,b\n".to_vec();
    let (s, v) = w.raw.upload(m, "p1", "table", "table.csv", &csv1);
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["version"].as_i64(), v["deduplicated"].as_bool()),
        (Some(1), Some(false)),
        "{v}"
    );
    assert_eq!(v["sha256"], json!(sha_hex(&csv1)));
    assert_eq!(v["size_bytes"], json!(csv1.len()));
    assert_eq!(v["format"], "csv");
    assert_eq!(v["uploader"], "member");
    let cols: Vec<&str> = v["metadata"]["details"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["x", "y", "label"], "{v}");
    assert_eq!(v["metadata"]["details"]["rows"], json!(2), "{v}");

    let npy = npy_f8(&[3, 4], &(0..12).map(f64::from).collect::<Vec<_>>());
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "doc",
            "doc.json",
            br#"{"a": [1, 2, 3], "b": {"c": "d"}}"#.to_vec(),
            "json",
        ),
        ("field", "field.npy", npy, "npy"),
        ("bundle", "arrays.npz", fixture("arrays.npz"), "npz"),
        ("h5", "simple.h5", fixture("simple.h5"), "hdf5"),
        (
            "classic",
            "classic_cdf1.nc",
            fixture("classic_cdf1.nc"),
            "netcdf",
        ),
        ("nc4", "nc4.nc", fixture("nc4.nc"), "netcdf"),
        ("mesh", "mesh.vtk", VTK.as_bytes().to_vec(), "vtk_legacy"),
    ];
    for (name, file, body, format) in &cases {
        let (s, v) = w.raw.upload(m, "p1", name, file, body);
        assert_eq!(s, 201, "{name}: {v}");
        assert_eq!(v["format"], json!(format), "{name}: {v}");
        assert_eq!(v["metadata"]["format"], json!(format), "{name}: {v}");
        let (s, got) = w.http.get(
            &format!("/api/v1/projects/p1/datasets/{name}/versions/1"),
            &w.viewer,
        );
        assert_eq!(s, 200, "{got}");
        assert_eq!(
            got["metadata"], v["metadata"],
            "{name}: the stored metadata is what upload returned"
        );
    }
    let (_, v) = w.http.get(
        "/api/v1/projects/p1/datasets/field/versions/latest",
        &w.viewer,
    );
    assert_eq!(v["metadata"]["details"]["shape"], json!([3, 4]), "{v}");
    assert_eq!(v["metadata"]["details"]["dtype"], "float64", "{v}");
    let (_, v) = w
        .http
        .get("/api/v1/projects/p1/datasets/h5/versions/1", &w.viewer);
    let paths: Vec<&str> = v["metadata"]["details"]["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/results/temperature"), "{v}");
    let (_, v) = w
        .http
        .get("/api/v1/projects/p1/datasets/nc4/versions/1", &w.viewer);
    let vars: Vec<&str> = v["metadata"]["details"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(vars.contains(&"temp"), "{v}");
    // A file that claims a format and breaks it is refused with the reason.
    let (s, v) = w.raw.upload(
        m,
        "p1",
        "broken",
        "broken.npy",
        b"\x93NUMPY\x01\x00\xff\xffnot a header",
    );
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("body")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.npy"),
        "{v}"
    );

    // Versions: the same content again is the latest version again.
    let (s, v) = w.raw.upload(m, "p1", "table", "table.csv", &csv1);
    assert_eq!(
        (s, v["version"].as_i64(), v["deduplicated"].as_bool()),
        (200, Some(1), Some(true)),
        "{v}"
    );
    let csv2 = b"x,y,label\n1,2.5,a\n2,3.5,b\n3,4.5,c\n".to_vec();
    let (s, v) = w.raw.upload(m, "p1", "table", "table.csv", &csv2);
    assert_eq!(
        (s, v["version"].as_i64(), v["deduplicated"].as_bool()),
        (201, Some(2), Some(false)),
        "{v}"
    );
    let (s, v) = w.raw.upload(m, "p1", "table", "table.csv", &csv2);
    assert_eq!(
        (s, v["version"].as_i64(), v["deduplicated"].as_bool()),
        (200, Some(2), Some(true)),
        "{v}"
    );
    // Going back to older content is a new version (of the same blob).
    let (s, v) = w.raw.upload(m, "p1", "table", "table.csv", &csv1);
    assert_eq!((s, v["version"].as_i64()), (201, Some(3)), "{v}");
    let (_, v) = w.http.get("/api/v1/projects/p1/datasets/table", &w.viewer);
    let versions: Vec<(i64, String)> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["version"].as_i64().unwrap(),
                x["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (1, sha_hex(&csv1)),
            (2, sha_hex(&csv2)),
            (3, sha_hex(&csv1))
        ]
    );
    // Identical content in another dataset is stored once.
    let (s, _) = w.raw.upload(Some(&w.root), "p1", "copy", "copy.csv", &csv1);
    assert_eq!(s, 201);
    let on_disk = blobs_on_disk(w.server.storage.path());
    let mut want: BTreeSet<String> = cases.iter().map(|(_, _, b, _)| sha_hex(b)).collect();
    want.insert(sha_hex(&csv1));
    want.insert(sha_hex(&csv2));
    assert_eq!(on_disk, want, "one file per distinct content");
    let scratch = w.server.storage.path().join("datasets/tmp");
    assert_eq!(
        std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0),
        0,
        "no scratch file left"
    );
    let (_, v) = w.http.get("/api/v1/projects/p1/datasets", &w.viewer);
    let listed: Vec<(String, i64, i64)> = v["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["versions"].as_i64().unwrap(),
                d["latest"]["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(listed.contains(&("table".into(), 3, 3)), "{v}");
    assert!(listed.contains(&("copy".into(), 1, 1)), "{v}");
    assert_eq!(listed.len(), cases.len() + 2, "{v}");
    let (s, _) = w
        .http
        .get("/api/v1/projects/p1/datasets/table/versions/9", &w.viewer);
    assert_eq!(s, 404);
    let (s, v) = w
        .http
        .get("/api/v1/projects/p1/datasets/table/versions/v1", &w.viewer);
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("version")));

    // Signed links: a viewer gets one; it works without a token.
    let (s, link) = w.http.post(
        "/api/v1/projects/p1/datasets/table/versions/2/link?expires_in=60",
        &w.viewer,
        json!({}),
    );
    assert_eq!(s, 200, "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{link}");
    let (s, disposition, sha, n) = w.raw.download(&url);
    assert_eq!(
        (s, sha.as_str(), n),
        (200, sha_hex(&csv2).as_str(), csv2.len() as u64)
    );
    assert!(disposition.contains("table.csv"), "{disposition}");
    let (s, _, _, _) = w.raw.download(link["path"].as_str().unwrap());
    assert_eq!(s, 200);
    // Tampering with any part fails.
    let path = link["path"].as_str().unwrap();
    let exp = link["exp"].as_u64().unwrap();
    let other = sha_hex(&csv1);
    for bad in [
        path.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600)),
        path.replace("name=table.csv", "name=evil.exe"),
        path.replace(&sha_hex(&csv2), &other),
        {
            let (head, sig) = path.rsplit_once("sig=").unwrap();
            let flipped: String = sig.chars().rev().collect();
            format!("{head}sig={flipped}")
        },
        path.split("&sig=").next().unwrap().to_string() + "&sig=",
    ] {
        let (s, _, _, _) = w.raw.download(&bad);
        assert!(s == 403 || s == 400, "{bad}: {s}");
    }
    let (s, _, _, _) = w.raw.download(&path.replace("&sig=", "&sig=00"));
    assert_eq!(s, 403);
    // Links expire.
    let (_, short) = w.http.post(
        "/api/v1/projects/p1/datasets/table/versions/latest/link?expires_in=1",
        &w.viewer,
        json!({}),
    );
    assert_eq!(short["version"], json!(3), "{short}");
    std::thread::sleep(Duration::from_millis(2100));
    let (s, v) = w
        .http
        .call("GET", short["path"].as_str().unwrap(), None, None);
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    for bad in ["0", "99999999999"] {
        let (s, v) = w.http.post(
            &format!("/api/v1/projects/p1/datasets/table/versions/1/link?expires_in={bad}"),
            &w.viewer,
            json!({}),
        );
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (400, Some("expires_in")),
            "{v}"
        );
    }

    // Roles: viewers read but do not upload; outsiders see nothing; worker
    // tokens and anonymous callers get nothing.
    let (s, v) = w
        .raw
        .upload(Some(&w.viewer), "p1", "table", "t.csv", b"a\n1\n");
    assert_eq!(s, 403, "{v}");
    let (s, _) = w
        .raw
        .upload(Some(&w.outsider), "p1", "table", "t.csv", b"a\n1\n");
    assert_eq!(s, 404);
    let (s, _) = w
        .raw
        .upload(Some(&w.worker), "p1", "table", "t.csv", b"a\n1\n");
    assert_eq!(s, 403);
    let (s, _) = w.raw.upload(None, "p1", "table", "t.csv", b"a\n1\n");
    assert_eq!(s, 401);
    for path in [
        "/api/v1/projects/p1/datasets",
        "/api/v1/projects/p1/datasets/table",
        "/api/v1/projects/p1/datasets/table/versions/1",
    ] {
        let (s, _) = w.http.get(path, &w.outsider);
        assert_eq!(s, 404, "{path}");
        let (s, _) = w.http.get(path, &w.worker);
        assert_eq!(s, 403, "{path}");
    }
    let (s, _) = w.http.post(
        "/api/v1/projects/p1/datasets/table/versions/1/link",
        &w.outsider,
        json!({}),
    );
    assert_eq!(s, 404);
    let (_, v) = w.http.get("/api/v1/projects/p2/datasets", &w.outsider);
    assert_eq!(v["datasets"], json!([]));
    let (s, v) = w.raw.upload(m, "p1", "bad/name", "x.csv", b"a\n");
    assert!(s == 404 || s == 400, "{s} {v}");
    let (s, v) = w.raw.upload(m, "p1", "ok", "..", b"a\n");
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("file_name")),
        "{v}"
    );

    // Every upload (deduplicated ones too) and every link is audited.
    assert_eq!(
        audits(&w, "dataset_upload"),
        (1 + cases.len() + 4 + 1) as i64
    );
    assert_eq!(audits(&w, "dataset_link"), 2);
}

/// A second server on the same schema, with its own configuration.
struct Extra {
    url: String,
    /// Kept here so the pool is dropped outside the server's runtime (the
    /// synchronous PostgreSQL client may not be dropped inside one).
    _state: simforge_server::state::Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Extra {
    fn start(base: &TestServer, configure: impl FnOnce(&mut ServerConfig)) -> Extra {
        let mut config = base.state.config.clone();
        config.listen = "127.0.0.1:0".into();
        config.etl.enabled = false;
        configure(&mut config);
        let state = simforge_server::prepare(config).expect("server state");
        let keep = state.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(simforge_server::serve(
                state,
                async move {
                    let _ = stop_rx.await;
                },
                move |a| {
                    let _ = addr_tx.send(a);
                },
            ))
            .unwrap();
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server bound");
        Extra {
            url: format!("http://{addr}"),
            _state: keep,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Extra {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads `VmRSS` of this process (the server runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Pseudo-random bytes, generated as they are read.
struct Noise {
    left: u64,
    state: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.state >> 56) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn large_uploads_stream_and_limits_hold() {
    let Some(pg) = pg_url() else { return };
    let w = world(&pg);
    const SIZE: u64 = 50 << 20;
    // The expected hash, computed from the same generator.
    let mut expect = Sha256::new();
    let mut noise = Noise {
        left: SIZE,
        state: 7,
    };
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = noise.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        expect.update(&buf[..k]);
    }
    let expect: String = expect
        .finalize()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();

    let baseline = rss();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let url = format!(
        "{}/api/v1/projects/p1/datasets/big?file_name=big.bin",
        w.server.url
    );
    let mut resp = w
        .raw
        .agent
        .post(&url)
        .header("Authorization", &format!("Bearer {}", w.member))
        .header("Content-Type", "application/octet-stream")
        .send(ureq::SendBody::from_owned_reader(Noise {
            left: SIZE,
            state: 7,
        }))
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let status = resp.status().as_u16();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["sha256"].as_str(), v["size_bytes"].as_u64()),
        (Some(expect.as_str()), Some(SIZE))
    );
    let grew = peak.saturating_sub(baseline);
    eprintln!(
        "RSS {} MiB before, peak {} MiB during the upload",
        baseline >> 20,
        peak >> 20
    );
    assert!(
        grew < 25 << 20,
        "RSS grew by {} MiB during a 50 MiB upload",
        grew >> 20
    );
    // And back, streamed, through a link.
    let (_, link) = w.http.post(
        "/api/v1/projects/p1/datasets/big/versions/1/link",
        &w.member,
        json!({}),
    );
    let (s, _, sha, n) = w.raw.download(link["url"].as_str().unwrap());
    assert_eq!((s, sha, n), (200, expect, SIZE));

    // The prod profile does not start without a signing key.
    let mut prod = w.server.state.config.clone();
    prod.profile = "prod".into();
    prod.datasets.signing_key = None;
    let refused = simforge_server::prepare(prod).err().map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("`datasets.signing_key`")
                && e.contains("SIMFORGE_SERVER__DATASETS__SIGNING_KEY")),
        "{refused:?}"
    );

    // Uploads are bounded by datasets.max_bytes, not by limits.body_bytes,
    // which still bounds every other request.
    let tight = Extra::start(&w.server, |c| c.limits.body_bytes = 1000);
    let raw = Raw::new(&tight.url);
    let (s, v) = raw.upload(
        Some(&w.member),
        "p1",
        "wide",
        "w.csv",
        &[b"x\n".as_slice(), &vec![b'7'; 5000]].concat(),
    );
    assert_eq!(
        s, 201,
        "a 5,000-byte upload under a 1,000-byte body limit: {v}"
    );
    let (s, v) = Http::new(&tight.url).post(
        "/api/v1/projects/p1/datasets/wide/versions/1/link",
        &w.member,
        json!({"padding": "p".repeat(2000)}),
    );
    assert_eq!(s, 413, "other requests keep the limit: {v}");
    drop(tight);

    // datasets.max_bytes; without a key outside prod, a per-process key.
    let small = Extra::start(&w.server, |c| {
        c.datasets.max_bytes = 1000;
        c.datasets.signing_key = None;
    });
    let raw = Raw::new(&small.url);
    let (s, v) = raw.upload(Some(&w.member), "p1", "small", "s.csv", &vec![b'1'; 2000]);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{v}"
    );
    let (s, _) = raw.upload(Some(&w.member), "p1", "small", "s.csv", b"a\n1\n");
    assert_eq!(s, 201);
    let http = Http::new(&small.url);
    let (s, v) = http.post(
        "/api/v1/projects/p1/datasets/small/versions/1/link",
        &w.member,
        json!({}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, _, _, n) = raw.download(v["url"].as_str().unwrap());
    assert_eq!((s, n), (200, 4));
    drop(small);

    // Two servers sharing a configured key accept each other's links.
    let key = "k".repeat(40);
    let a = Extra::start(&w.server, |c| {
        c.datasets.signing_key = Some(simforge_server::datasets::Secret::new(&key).unwrap())
    });
    let b = Extra::start(&w.server, |c| {
        c.datasets.signing_key = Some(simforge_server::datasets::Secret::new(&key).unwrap())
    });
    let (_, link) = Http::new(&a.url).post(
        "/api/v1/projects/p1/datasets/small/versions/1/link",
        &w.member,
        json!({}),
    );
    let (s, _, _, n) = Raw::new(&b.url).download(link["path"].as_str().unwrap());
    assert_eq!((s, n), (200, 4));
    let (s, _, _, _) = w.raw.download(link["path"].as_str().unwrap());
    assert_eq!(s, 403, "a server with another key refuses the link");
}

#[test]
fn dataset_settings_are_checked_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("server.yaml");
    let load = |text: &str| {
        std::fs::write(&f, text).unwrap();
        simforge_server::config::load(Some(&f), None, Vec::<(String, String)>::new())
    };
    let e = load("datasets: {signing_key: short}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("datasets.signing_key") && e.contains("32"),
        "{e}"
    );
    let e = load("datasets: {backend: ftp}\n").unwrap_err().to_string();
    assert!(e.contains("datasets.backend"), "{e}");
    let e = load("datasets: {s3: {bucket: b, secret: x}}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("datasets.s3") && e.contains("secret"), "{e}");
    let c = load(
        "datasets: {backend: s3, max_bytes: 1000, s3: {endpoint: \"http://127.0.0.1:9000\", bucket: b, \
         access_key_id: a, secret_access_key: topsecret, allow_http: true}}\n",
    )
    .unwrap();
    assert_eq!(c.datasets.backend, simforge_server::datasets::Backend::S3);
    assert_eq!(c.datasets.s3.region, "us-east-1");
    assert!(
        !format!("{c:?}").contains("topsecret"),
        "secrets are not printed"
    );
}

/// Against an S3-compatible server (`SIMFORGE_TEST_S3_URL`, e.g. moto's
/// `moto_server`, an S3 emulator); skipped without it.
#[cfg(feature = "s3")]
#[test]
fn s3_backend_against_an_s3_compatible_server() {
    let Some(pg) = pg_url() else { return };
    let Some(s3) = std::env::var("SIMFORGE_TEST_S3_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_S3_URL is not set (.ci/run starts moto_server)"
        );
        eprintln!("note: SIMFORGE_TEST_S3_URL is not set; the S3 test is skipped");
        return;
    };
    let w = world(&pg);
    let bucket = format!("simforge-test-{}", std::process::id());
    // The emulator creates buckets on an unsigned PUT.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let s = agent
        .put(&format!("{s3}/{bucket}"))
        .send(&[][..])
        .unwrap()
        .status()
        .as_u16();
    assert!(s == 200 || s == 409, "creating the bucket: {s}");
    let server = Extra::start(&w.server, |c| {
        c.datasets.backend = simforge_server::datasets::Backend::S3;
        c.datasets.s3.endpoint = s3.clone();
        c.datasets.s3.bucket = bucket.clone();
        c.datasets.s3.access_key_id = "testing".into();
        c.datasets.s3.secret_access_key = "testing".into();
        c.datasets.s3.allow_http = true;
        c.datasets.s3.prefix = "ds/".into();
    });
    let raw = Raw::new(&server.url);
    let http = Http::new(&server.url);
    let csv = b"a,b\n1,2\n".to_vec();
    let (s, v) = raw.upload(Some(&w.member), "p1", "s3table", "t.csv", &csv);
    assert_eq!(s, 201, "{v}");
    let (s, v) = raw.upload(Some(&w.member), "p1", "s3table", "t.csv", &csv);
    assert_eq!((s, v["deduplicated"].as_bool()), (200, Some(true)));
    // A multipart upload (over 8 MiB) and its download.
    let big: Vec<u8> = (0..(9u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let (s, v) = raw.upload(Some(&w.member), "p1", "s3big", "big.bin", &big);
    assert_eq!(s, 201, "{v}");
    for (name, body) in [("s3table", &csv), ("s3big", &big)] {
        let (_, link) = http.post(
            &format!("/api/v1/projects/p1/datasets/{name}/versions/1/link"),
            &w.member,
            json!({}),
        );
        let (s, _, sha, n) = raw.download(link["url"].as_str().unwrap());
        assert_eq!(
            (s, sha, n),
            (200, sha_hex(body), body.len() as u64),
            "{name}"
        );
    }
    let local: std::path::PathBuf = w.server.storage.path().join("datasets/blobs");
    assert!(
        !local.join(sha_hex(&big)).exists(),
        "S3 content is not kept locally"
    );
}
