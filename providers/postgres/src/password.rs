//! Passwords as keys: drawn from the OS's CSPRNG, handed to PostgreSQL only as a
//! SCRAM-SHA-256 verifier computed here (so the clear text never reaches the
//! server, its logs or `pg_stat_statements`), and named by a key id that is a
//! digest of that verifier: not secret, and no way back to the password.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Random bytes in a password: 256 bits.
const PASSWORD_BYTES: usize = 32;

/// A new password (64 lowercase hex digits: ASCII, so SASLprep leaves it as it
/// is and every client sends the same bytes) and its verifier.
pub(crate) struct NewPassword {
    pub(crate) secret: Zeroizing<String>,
    pub(crate) verifier: String,
}

pub(crate) fn generate() -> Result<NewPassword, String> {
    let mut bytes = Zeroizing::new([0u8; PASSWORD_BYTES]);
    getrandom::fill(bytes.as_mut()).map_err(|err| format!("the OS gave no randomness: {err}"))?;
    let secret = Zeroizing::new(hex::encode(bytes.as_ref()));
    let verifier = postgres_protocol::password::scram_sha_256(secret.as_bytes());
    Ok(NewPassword { secret, verifier })
}

/// The key id of a stored password (`pg_authid.rolpassword`, a verifier):
/// `scram-` and 16 hex digits of its SHA-256. The verifier is salted, so the same
/// password set twice gets two ids; a stored MD5 hash or anything else is named
/// the same way (with its scheme's name), so an out-of-band password is a key
/// too.
pub(crate) fn key_id(stored: &str) -> String {
    let scheme = if stored.starts_with("SCRAM-SHA-256$") {
        "scram"
    } else if stored.starts_with("md5") {
        "md5"
    } else {
        "password"
    };
    let digest = Sha256::digest(stored.as_bytes());
    format!("{scheme}-{}", hex::encode(&digest[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_sent_only_as_verifiers() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.secret.len(), 64);
        assert!(a.secret.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(*a.secret, *b.secret);
        assert!(
            a.verifier.starts_with("SCRAM-SHA-256$4096:"),
            "{}",
            a.verifier
        );
        assert!(!a.verifier.contains(a.secret.as_str()));
        let id = key_id(&a.verifier);
        assert!(id.starts_with("scram-") && id.len() == 22, "{id}");
        assert!(!id.contains(&a.secret[..8]));
        assert_ne!(id, key_id(&b.verifier));
        assert!(key_id("md5abc").starts_with("md5-"));
        assert!(key_id("plain").starts_with("password-"));
    }
}
