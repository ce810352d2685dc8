//! API and session tokens: random, shown once, stored only as a SHA-256 hash
//! (a stolen database yields no usable token), with scopes and an expiry.

use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Prefix that marks a simforge token (so secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "sfk_";

/// What a token may be used for; a token never grants more than its user's roles.
pub const SCOPES: &[&str] = &["read", "submit", "admin", "worker"];

/// Fills `buf` from the kernel's random source.
pub fn random_bytes(buf: &mut [u8]) -> ApiResult<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| ApiError::internal(format!("reading /dev/urandom: {e}")))
}

/// A new token: `sfk_` and 256 random bits in hex.
pub fn new_token() -> ApiResult<String> {
    let mut b = [0u8; 32];
    random_bytes(&mut b)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&b)))
}

/// A new random id (leases, idempotency) of `bytes` random bytes in hex.
pub fn new_id(bytes: usize) -> ApiResult<String> {
    let mut b = vec![0u8; bytes];
    random_bytes(&mut b)?;
    Ok(hex(&b))
}

/// The hash stored for a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a list of scopes.
pub fn check_scopes(scopes: &[String]) -> ApiResult<()> {
    if scopes.is_empty() {
        return Err(ApiError::invalid("a token needs at least one scope")
            .with_field("scopes")
            .with_hint(format!("scopes: {}", SCOPES.join(", "))));
    }
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            return Err(ApiError::invalid(format!("unknown scope `{s}`"))
                .with_field("scopes")
                .with_hint(format!("scopes: {}", SCOPES.join(", "))));
        }
    }
    Ok(())
}
