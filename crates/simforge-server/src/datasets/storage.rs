//! Where dataset content lives: content-addressed blobs (`blobs/<sha256>`)
//! in a local directory or an S3-compatible object store. A blob is written
//! once, whatever number of versions and datasets share it, and is never
//! visible half-written: the local store renames a complete, synced file
//! into place; S3 completes a multipart upload atomically.
//!
//! Both backends implement [`BlobStore`]; [`Storage`] picks one from the
//! configuration. Stores are built once per configuration and shared
//! ([`storage_for`]), so the S3 client's connection pool is reused.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures_util::Stream;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// A blob's bytes as a stream (what a download sends).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Size of the pieces a blob is read and sent in.
const CHUNK: usize = 256 << 10;

/// Why a storage operation failed (logged; clients see a 500 or 503).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A local file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The object store answered with an error or could not be reached.
    #[error("object store: {0}")]
    ObjectStore(String),
    /// The configuration asks for something this build or setup lacks.
    #[error("{0}")]
    Config(String),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "dataset storage failed");
        match e {
            StorageError::Config(m) => {
                ApiError::unavailable(format!("dataset storage is not usable: {m}"))
            }
            StorageError::ObjectStore(_) => {
                ApiError::unavailable("the dataset object store is unavailable")
            }
            StorageError::Io { .. } => ApiError::internal("dataset storage failed"),
        }
    }
}

/// Which backend holds dataset content (`datasets.backend`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A local (or shared) directory: `datasets.path`.
    #[default]
    Local,
    /// An S3-compatible object store: `datasets.s3`.
    S3,
}

/// An S3-compatible object store (`datasets.s3`).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL of a non-AWS store (MinIO, Ceph, ...), e.g.
    /// `http://minio:9000`; empty: AWS itself.
    pub endpoint: String,
    /// Bucket (must exist).
    pub bucket: String,
    /// Region (`us-east-1` when the store does not care).
    pub region: String,
    /// Access key id; empty: from the environment (`AWS_ACCESS_KEY_ID`, ...).
    pub access_key_id: String,
    /// Secret access key (never printed).
    pub secret_access_key: String,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: bool,
    /// Key prefix inside the bucket.
    pub prefix: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
            prefix: "datasets/".into(),
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// A content-addressed blob store.
pub trait BlobStore: Send + Sync {
    /// Stores the complete file `file` as blob `sha` unless that blob exists;
    /// true when it was stored now. `file` is consumed (moved or deleted).
    fn put_file(
        &self,
        sha: &str,
        file: tempfile::NamedTempFile,
        size: u64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// The blob's size and bytes, or None when there is no such blob.
    fn get(
        &self,
        sha: &str,
    ) -> impl Future<Output = Result<Option<(u64, ByteStream)>, StorageError>> + Send;

    /// A directory for upload scratch files: on the local store's own
    /// filesystem, so finished uploads are renamed into place, not copied.
    fn scratch_dir(&self) -> PathBuf;
}

/// Blobs in a directory: `<root>/blobs/<sha256>`, scratch files in `<root>/tmp`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    /// Where blob `sha` is kept.
    pub fn blob_path(&self, sha: &str) -> PathBuf {
        self.root.join("blobs").join(sha)
    }
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl BlobStore for LocalStore {
    async fn put_file(
        &self,
        sha: &str,
        file: tempfile::NamedTempFile,
        _size: u64,
    ) -> Result<bool, StorageError> {
        let target = self.blob_path(sha);
        tokio::task::spawn_blocking(move || {
            if target.exists() {
                return Ok(false);
            }
            let dir = target.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
            file.as_file()
                .sync_all()
                .map_err(io_err("syncing", file.path()))?;
            // Write-then-rename: a blob is there whole or not at all. Two
            // uploads of the same content may race; both renames give the
            // same bytes.
            file.persist(&target).map_err(|e| StorageError::Io {
                what: "storing",
                path: target.clone(),
                source: e.error,
            })?;
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        })
        .await
        .map_err(|e| StorageError::ObjectStore(format!("storage task failed: {e}")))?
    }

    async fn get(&self, sha: &str) -> Result<Option<(u64, ByteStream)>, StorageError> {
        let path = self.blob_path(sha);
        let opened = tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(f) => {
                let size = f.metadata().map_err(io_err("reading", &path))?.len();
                Ok(Some((size, f)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("opening", &path)(e)),
        })
        .await
        .map_err(|e| StorageError::ObjectStore(format!("storage task failed: {e}")))??;
        Ok(opened.map(|(size, file)| (size, file_stream(file))))
    }

    fn scratch_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// Streams a file from a blocking thread in [`CHUNK`]s, a few chunks ahead
/// of the client at most (bounded memory whatever the file's size). Also
/// serves result downloads, which are spooled to a temporary file first.
pub(crate) fn file_stream(mut file: std::fs::File) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return; // the client went away
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Blobs in an S3-compatible object store, at `<prefix>blobs/<sha256>`.
#[cfg(feature = "s3")]
#[derive(Debug, Clone)]
pub struct S3Store {
    store: Arc<object_store::aws::AmazonS3>,
    prefix: String,
    scratch: PathBuf,
}

#[cfg(feature = "s3")]
impl S3Store {
    /// Connects (lazily: nothing is sent until the first request).
    pub fn new(cfg: &S3Config, scratch: PathBuf) -> Result<S3Store, StorageError> {
        // reqwest is built without a bundled TLS provider: use ring, the
        // one the rest of the workspace (kube) uses. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if cfg.bucket.is_empty() {
            return Err(StorageError::Config("datasets.s3.bucket is empty".into()));
        }
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_allow_http(cfg.allow_http);
        if !cfg.endpoint.is_empty() {
            // Path-style requests (`endpoint/bucket/key`) work with every
            // S3-compatible server.
            b = b
                .with_endpoint(&cfg.endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if !cfg.access_key_id.is_empty() {
            b = b
                .with_access_key_id(&cfg.access_key_id)
                .with_secret_access_key(&cfg.secret_access_key);
        }
        let store = b
            .build()
            .map_err(|e| StorageError::Config(format!("datasets.s3: {e}")))?;
        Ok(S3Store {
            store: Arc::new(store),
            prefix: cfg.prefix.clone(),
            scratch,
        })
    }

    fn key(&self, sha: &str) -> object_store::path::Path {
        object_store::path::Path::from(format!("{}blobs/{sha}", self.prefix))
    }
}

#[cfg(feature = "s3")]
fn os_err(e: object_store::Error) -> StorageError {
    StorageError::ObjectStore(e.to_string())
}

#[cfg(feature = "s3")]
impl BlobStore for S3Store {
    async fn put_file(
        &self,
        sha: &str,
        file: tempfile::NamedTempFile,
        size: u64,
    ) -> Result<bool, StorageError> {
        use object_store::ObjectStore;
        let key = self.key(sha);
        match self
            .store
            .get_opts(&key, object_store::GetOptions::new().with_head(true))
            .await
        {
            Ok(_) => return Ok(false),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(os_err(e)),
        }
        if size <= 8 << 20 {
            let path = file.path().to_path_buf();
            let bytes = tokio::task::spawn_blocking(move || {
                std::fs::read(&path).map_err(io_err("reading", &path))
            })
            .await
            .map_err(|e| StorageError::ObjectStore(format!("storage task failed: {e}")))??;
            self.store
                .put_opts(&key, bytes.into(), Default::default())
                .await
                .map_err(os_err)?;
            return Ok(true);
        }
        // Large blobs: a multipart upload, read a part at a time (at most a
        // few parts in memory), completed atomically at the end.
        let upload = self
            .store
            .put_multipart_opts(&key, Default::default())
            .await
            .map_err(os_err)?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20);
        let reader = std::fs::File::open(file.path()).map_err(io_err("opening", file.path()))?;
        let mut stream = file_stream(reader);
        use futures_util::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(io_err("reading", file.path()))?;
            writer.wait_for_capacity(4).await.map_err(os_err)?;
            writer.write(&chunk);
        }
        writer.finish().await.map_err(os_err)?;
        Ok(true)
    }

    async fn get(&self, sha: &str) -> Result<Option<(u64, ByteStream)>, StorageError> {
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        match self
            .store
            .get_opts(&self.key(sha), Default::default())
            .await
        {
            Ok(r) => {
                let size = r.meta.size;
                let stream = r
                    .into_stream()
                    .map(|c| c.map_err(|e| std::io::Error::other(e.to_string())));
                Ok(Some((size, Box::pin(stream))))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(os_err(e)),
        }
    }

    fn scratch_dir(&self) -> PathBuf {
        self.scratch.clone()
    }
}

/// The configured backend.
#[derive(Debug, Clone)]
pub enum Storage {
    /// See [`LocalStore`].
    Local(LocalStore),
    /// See [`S3Store`].
    #[cfg(feature = "s3")]
    S3(S3Store),
}

impl BlobStore for Storage {
    async fn put_file(
        &self,
        sha: &str,
        file: tempfile::NamedTempFile,
        size: u64,
    ) -> Result<bool, StorageError> {
        match self {
            Storage::Local(s) => s.put_file(sha, file, size).await,
            #[cfg(feature = "s3")]
            Storage::S3(s) => s.put_file(sha, file, size).await,
        }
    }

    async fn get(&self, sha: &str) -> Result<Option<(u64, ByteStream)>, StorageError> {
        match self {
            Storage::Local(s) => s.get(sha).await,
            #[cfg(feature = "s3")]
            Storage::S3(s) => s.get(sha).await,
        }
    }

    fn scratch_dir(&self) -> PathBuf {
        match self {
            Storage::Local(s) => s.scratch_dir(),
            #[cfg(feature = "s3")]
            Storage::S3(s) => s.scratch_dir(),
        }
    }
}

/// The store for a server's configuration, built on first use and shared
/// afterwards.
pub fn storage_for(config: &crate::config::ServerConfig) -> ApiResult<Arc<Storage>> {
    static STORES: Mutex<Vec<(super::DatasetsConfig, PathBuf, Arc<Storage>)>> =
        Mutex::new(Vec::new());
    let ds = &config.datasets;
    let base = &config.storage.path;
    let mut stores = STORES
        .lock()
        .map_err(|_| ApiError::internal("dataset storage cache poisoned"))?;
    if let Some((_, _, s)) = stores.iter().find(|(c, b, _)| c == ds && b == base) {
        return Ok(s.clone());
    }
    let storage = match ds.backend {
        Backend::Local => Storage::Local(LocalStore::new(
            ds.path.clone().unwrap_or_else(|| base.join("datasets")),
        )),
        #[cfg(feature = "s3")]
        Backend::S3 => Storage::S3(S3Store::new(&ds.s3, base.join("tmp").join("datasets"))?),
        #[cfg(not(feature = "s3"))]
        Backend::S3 => {
            return Err(StorageError::Config(
                "this simforge was built without S3 support (cargo feature `s3` of simforge-server)".into(),
            )
            .into());
        }
    };
    let storage = Arc::new(storage);
    stores.push((ds.clone(), base.clone(), storage.clone()));
    Ok(storage)
}
