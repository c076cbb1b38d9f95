//! `sha256:` digests of exact bytes, and fingerprints of observed objects.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A digest that carries its scheme, written `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a digest of the form `sha256:<64 hex digits>`")]
pub struct DigestError(String);

impl Digest {
    /// The sha256 digest of exactly these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The sha256 digest of everything `reader` yields.
    pub fn of_reader(mut reader: impl std::io::Read) -> std::io::Result<Self> {
        let mut sha = Sha256::new();
        let mut buf = vec![0; 1 << 18];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(Self(sha.finalize().into())),
                Ok(n) => sha.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The fingerprint of an observed object: the digest of its canonical JSON encoding
/// (fields in declaration order, maps sorted). Apply recomputes it from a fresh read
/// to tell whether the object moved since planning.
pub fn fingerprint<T: Serialize>(value: &T) -> Digest {
    hash_with(|out| serde_json::to_writer(out, value).map_err(std::io::Error::from))
}

/// The digest of what `write` writes.
pub(crate) fn hash_with(write: impl FnOnce(&mut HashWriter) -> std::io::Result<()>) -> Digest {
    let mut hasher = HashWriter {
        sha: Sha256::new(),
        buf: [0; 2048],
        len: 0,
    };
    // Writing plain data into a hasher cannot fail.
    write(&mut hasher).expect("invariant: model types serialise");
    hasher.sha.update(&hasher.buf[..hasher.len]);
    Digest(hasher.sha.finalize().into())
}

/// Hashes what is written. `serde_json` writes a few bytes at a time; gathering them
/// first makes hashing a large state several times faster (same bytes, same digest).
pub(crate) struct HashWriter {
    sha: Sha256,
    buf: [u8; 2048],
    len: usize,
}

impl std::io::Write for HashWriter {
    #[inline]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.len + data.len() <= self.buf.len() {
            self.buf[self.len..self.len + data.len()].copy_from_slice(data);
            self.len += data.len();
            Ok(())
        } else {
            self.write(data).map(drop)
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.len + data.len() > self.buf.len() {
            self.sha.update(&self.buf[..self.len]);
            self.len = 0;
            if data.len() > self.buf.len() {
                self.sha.update(data);
                return Ok(data.len());
            }
        }
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || DigestError(text.chars().take(80).collect());
        let hex_part = text.strip_prefix("sha256:").ok_or_else(err)?;
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^sha256:[0-9a-f]{64}$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_the_digest_of_the_json_bytes_at_any_size() {
        for n in [0usize, 1, 100, 2047, 2048, 2049, 10_000] {
            let value: Vec<String> = (0..n).map(|i| "x".repeat(i % 3000)).collect();
            let bytes = serde_json::to_vec(&value).unwrap();
            assert_eq!(fingerprint(&value), Digest::of(&bytes), "{n}");
        }
    }

    #[test]
    fn round_trips_and_rejects() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "",
            "sha256:",
            "md5:00",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
