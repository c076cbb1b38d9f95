//! New keys: an id and a secret from the operating system's randomness. The secret
//! lives only in zeroized memory and leaves through the apply response.

use nhi_provider_sdk::ProviderError;
use zeroize::Zeroizing;

/// Prefix of every local secret, so a leaked one is easy to recognise and scan for.
pub(crate) const SECRET_PREFIX: &str = "nhi-local-secret-";

/// RFC 4648 base32 alphabet: uppercase, no look-alike digits 0, 1, 8, 9.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A freshly minted key, before it is stored.
pub(crate) struct NewKey {
    /// `LK` and 18 base32 characters (90 random bits).
    pub id: String,
    /// `nhi-local-secret-` and 64 hex digits (256 random bits).
    pub secret: Zeroizing<String>,
    pub created: jiff::Timestamp,
}

pub(crate) fn new_key() -> Result<NewKey, ProviderError> {
    let mut id_bytes = [0u8; 16];
    fill(&mut id_bytes)?;
    let mut bits = u128::from_le_bytes(id_bytes);
    let mut id = String::with_capacity(20);
    id.push_str("LK");
    for _ in 0..18 {
        id.push(char::from(
            BASE32[usize::try_from(bits & 31).expect("invariant: 5 bits fit in usize")],
        ));
        bits >>= 5;
    }

    let mut raw = Zeroizing::new([0u8; 32]);
    fill(raw.as_mut())?;
    let mut digits = Zeroizing::new([0u8; 64]);
    hex::encode_to_slice(raw.as_ref(), digits.as_mut())
        .expect("invariant: 64 bytes hold 32 bytes as hex");
    let mut secret = Zeroizing::new(String::with_capacity(SECRET_PREFIX.len() + 64));
    secret.push_str(SECRET_PREFIX);
    secret.push_str(std::str::from_utf8(digits.as_ref()).expect("invariant: hex digits are ascii"));

    Ok(NewKey {
        id,
        secret,
        created: now(),
    })
}

/// Now, truncated to whole seconds as clouds report key creation.
pub(crate) fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
        .expect("invariant: the seconds of a valid timestamp are valid")
}

fn fill(buf: &mut [u8]) -> Result<(), ProviderError> {
    getrandom::fill(buf).map_err(|err| {
        ProviderError::Other(format!(
            "the operating system's random source failed: {err}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_differ() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(*a.secret, *b.secret);
        assert_eq!(a.id.len(), 20);
        assert!(a.id.starts_with("LK"));
        assert!(a.id[2..].bytes().all(|c| BASE32.contains(&c)), "{}", a.id);
        let hex_part = a.secret.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(hex_part.len(), 64);
        assert!(hex_part.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.created.subsec_nanosecond(), 0);
    }
}
