//! Signed download links: `GET /api/v1/blobs/{sha}?exp=&name=&sig=` works
//! without a token until `exp` (Unix seconds), because `sig` is an
//! HMAC-SHA256 over the blob, the expiry and the file name under a server
//! secret. Anyone holding the link may download that one blob until it
//! expires; changing any part of it breaks the signature. Signatures are
//! compared in constant time (`hmac`'s `verify_slice`).
//!
//! The secret is `datasets.signing_key`. In the prod profile it is
//! required; elsewhere a missing key is replaced by a random one made once
//! per process (links then stop working when the server restarts, and
//! servers behind one load balancer would not accept each other's links —
//! a warning says so).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

type HmacSha256 = Hmac<sha2_11::Sha256>;

/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// A secret from the configuration: at least [`MIN_KEY_LEN`] bytes, never
/// printed (its `Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Checks the length.
    pub fn new(s: &str) -> Result<Secret, String> {
        if s.len() < MIN_KEY_LEN {
            return Err(format!(
                "a signing key needs at least {MIN_KEY_LEN} bytes (got {}); generate one with `openssl rand -hex 32`",
                s.len()
            ));
        }
        Ok(Secret(s.to_string()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Secret::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The key links are signed with (see the module docs).
pub fn signing_key(state: &AppState) -> ApiResult<Vec<u8>> {
    if let Some(k) = &state.config.datasets.signing_key {
        return Ok(k.bytes().to_vec());
    }
    if state.config.profile == "prod" {
        return Err(ApiError::unavailable("download links are disabled: no datasets.signing_key is configured")
            .with_hint("the prod profile requires datasets.signing_key (or SIMFORGE_SERVER__DATASETS__SIGNING_KEY)"));
    }
    static KEY: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = vec![0u8; 32];
        crate::auth::tokens::random_bytes(&mut k).map_err(|e| e.message)?;
        tracing::warn!(
            "datasets.signing_key is not set: download links are signed with a random key made for this \
             process; they stop working when it restarts (set the key in production)"
        );
        Ok(k)
    });
    key.clone().map_err(ApiError::internal)
}

/// Seconds since the Unix epoch.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mac(key: &[u8], sha: &str, exp: u64, name: &str) -> ApiResult<HmacSha256> {
    let mut m =
        HmacSha256::new_from_slice(key).map_err(|_| ApiError::internal("bad signing key"))?;
    // Newline-separated: none of the parts can contain a newline.
    m.update(format!("simforge-blob-v1\n{sha}\n{exp}\n{name}").as_bytes());
    Ok(m)
}

/// The signature (hex) of a link to blob `sha`, downloaded as `name`, valid until `exp`.
pub fn sign(key: &[u8], sha: &str, exp: u64, name: &str) -> ApiResult<String> {
    Ok(crate::auth::tokens::hex(
        &mac(key, sha, exp, name)?.finalize().into_bytes(),
    ))
}

/// Checks a link: 403 when it expired or was altered (the message says which
/// only for expiry: a forger learns nothing).
pub fn verify(key: &[u8], sha: &str, exp: u64, name: &str, sig: &str, now: u64) -> ApiResult<()> {
    let forbidden =
        || ApiError::forbidden("this download link is not valid").with_hint("ask for a new link");
    let Some(sig) = unhex(sig) else {
        return Err(forbidden());
    };
    mac(key, sha, exp, name)?
        .verify_slice(&sig)
        .map_err(|_| forbidden())?;
    if now > exp {
        return Err(
            ApiError::forbidden("this download link has expired").with_hint("ask for a new link")
        );
    }
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Percent-encodes `s` for a query string (RFC 3986 unreserved characters stay).
pub fn url_encode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_and_not_when_altered() {
        let key = b"0123456789abcdef0123456789abcdef";
        let sha = "ab".repeat(32);
        let sig = sign(key, &sha, 1000, "a.csv").unwrap();
        assert!(verify(key, &sha, 1000, "a.csv", &sig, 999).is_ok());
        assert!(verify(key, &sha, 1000, "a.csv", &sig, 1000).is_ok());
        let e = verify(key, &sha, 1000, "a.csv", &sig, 1001).unwrap_err();
        assert!(e.message.contains("expired"));
        for (s, exp, name, sg) in [
            (sha.replace('a', "c"), 1000, "a.csv", sig.clone()),
            (sha.clone(), 2000, "a.csv", sig.clone()),
            (sha.clone(), 1000, "b.csv", sig.clone()),
            (sha.clone(), 1000, "a.csv", sig.replace('0', "1")),
            (sha.clone(), 1000, "a.csv", "zz".into()),
            (sha.clone(), 1000, "a.csv", String::new()),
        ] {
            let e = verify(key, &s, exp, name, &sg, 10).unwrap_err();
            assert_eq!(e.status.as_u16(), 403);
            assert!(!e.message.contains("expired"));
        }
        assert!(
            verify(
                b"another key another key another k",
                &sha,
                1000,
                "a.csv",
                &sig,
                10
            )
            .is_err()
        );
    }

    #[test]
    fn secrets_are_long_and_never_printed() {
        assert!(Secret::new("short").unwrap_err().contains("at least 32"));
        let s = Secret::new(&"k".repeat(40)).unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(url_encode("a b/ü.csv"), "a%20b%2F%C3%BC.csv");
    }
}
