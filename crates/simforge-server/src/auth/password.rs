//! Password hashing with Argon2id (the OWASP-recommended memory-hard hash), in
//! the PHC string format so parameters can be raised later without breaking
//! stored hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{ApiError, ApiResult};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes a new password; refuses one that is too short.
pub fn hash_password(password: &str) -> ApiResult<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(format!(
            "the password is too short: at least {MIN_PASSWORD_LEN} characters"
        ))
        .with_field("password"));
    }
    let mut salt = [0u8; 16];
    super::tokens::random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hash: {e}")))
}

/// Whether `password` matches a stored hash (false for a malformed hash).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse battery!", &a));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(
            hash_password("short").unwrap_err().field.as_deref(),
            Some("password")
        );
    }
}
