//! The sealed envelope plans and receipts share, and the one place that encodes
//! and decodes it: a JSON object whose tag field (`nhi_plan`, `nhi_receipt`)
//! names the kind of body and its envelope version, the body as an exact string,
//! the digest of those bytes, and signatures over statements naming that digest.
//!
//! ```json
//! {
//!   "nhi_plan": 1,
//!   "body_digest": "sha256:…",
//!   "body": "{\"format_version\":1,…}",
//!   "signatures": [{ "statement": "…", "signature": "-----BEGIN SSH SIGNATURE-----…" }]
//! }
//! ```
//!
//! The body is kept as a string so that its digest covers exact bytes any tool can
//! extract (`jq -j .body FILE | sha256sum`), never a re-serialisation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use nhi_provider_sdk::Digest;
use schemars::JsonSchema;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Serialize};

/// One signature over a body: the exact statement text that was signed, and the
/// armored SSHSIG signature of it. Role, principal and time live only inside the
/// statement, so nothing unsigned can disagree with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    pub statement: String,
    pub signature: String,
}

/// The most signatures an envelope may carry: an author, the approvals any trust
/// policy asks for, and room to spare. More are refused while reading, before
/// any is verified.
pub const MAX_SIGNATURES: usize = 100;

/// The longest statement a signature may cover, in bytes: nhi writes a fixed
/// header, a principal of at most 256 bytes and a comment of at most 500
/// characters.
pub const MAX_STATEMENT_BYTES: usize = 8 * 1024;

/// The longest armored signature, in bytes; an ed25519 SSHSIG is about 300.
pub const MAX_SIGNATURE_BYTES: usize = 4 * 1024;

/// A body that travels sealed.
pub trait SealedBody: Serialize + DeserializeOwned {
    /// The envelope's tag field, e.g. `nhi_plan`; its value is [`Self::VERSION`].
    const TAG: &'static str;
    /// The envelope layout version under that tag.
    const VERSION: u32;
    /// Files larger than this are refused unread.
    const MAX_BYTES: u64;
}

/// A decoded, digest-checked envelope.
#[derive(Debug, Clone)]
pub struct Sealed<B> {
    pub body: B,
    /// The exact bytes the digest and every signature cover.
    body_text: String,
    /// `sha256:` of `body_text`.
    pub digest: Digest,
    /// In the order they were added; judged by `trust`, never by the envelope.
    pub signatures: Vec<SignatureRecord>,
}

/// Why bytes are not a sealed envelope of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    TooLarge {
        limit: u64,
    },
    /// Not JSON, or no tag field of this kind.
    NotSealed {
        detail: String,
    },
    /// The tag holds another version (as written, clipped).
    UnsupportedFormat {
        found: String,
    },
    /// The envelope's layout or recorded digest is wrong.
    Malformed {
        detail: String,
    },
    DigestMismatch {
        recorded: Digest,
        computed: Digest,
    },
    /// The body text is not a body of this kind.
    Body {
        detail: String,
    },
}

impl<B: SealedBody> Sealed<B> {
    /// Seals a freshly built body; its canonical text is compact JSON with fields
    /// in declaration order and every map sorted.
    pub fn new(body: B) -> Self {
        let body_text =
            serde_json::to_string(&body).expect("invariant: plan and receipt bodies serialise");
        let digest = Digest::of(body_text.as_bytes());
        Self {
            body,
            body_text,
            digest,
            signatures: Vec::new(),
        }
    }

    /// The exact bytes that are hashed and signed.
    pub fn body_bytes(&self) -> &[u8] {
        self.body_text.as_bytes()
    }

    pub fn encode(&self) -> Vec<u8> {
        let envelope = Envelope {
            tag: B::TAG,
            version: B::VERSION,
            body_digest: self.digest.to_string(),
            body: Cow::Borrowed(&self.body_text),
            signatures: Cow::Borrowed(&self.signatures),
        };
        let mut out = serde_json::to_vec_pretty(&envelope).expect("invariant: envelopes serialise");
        out.push(b'\n');
        out
    }

    /// Parses and checks an envelope: size, tag and version, layout, the digest
    /// over the exact body bytes, and the body's shape.
    pub fn unseal(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() as u64 > B::MAX_BYTES {
            return Err(SealError::TooLarge {
                limit: B::MAX_BYTES,
            });
        }
        check_tag(bytes, B::TAG, B::VERSION)?;
        let envelope = serde_json::Deserializer::from_slice(bytes);
        let envelope = decode_envelope(envelope, B::TAG).map_err(|e| SealError::Malformed {
            detail: e.to_string(),
        })?;
        let recorded: Digest =
            envelope
                .body_digest
                .parse()
                .map_err(|e: nhi_provider_sdk::DigestError| SealError::Malformed {
                    detail: e.to_string(),
                })?;
        let computed = Digest::of(envelope.body.as_bytes());
        if recorded != computed {
            return Err(SealError::DigestMismatch { recorded, computed });
        }
        let body_text = envelope.body.into_owned();
        let body: B = serde_json::from_str(&body_text).map_err(|e| SealError::Body {
            detail: e.to_string(),
        })?;
        Ok(Self {
            body,
            body_text,
            digest: computed,
            signatures: envelope.signatures.into_owned(),
        })
    }

    /// Writes the envelope atomically: an unpredictable, exclusive temporary
    /// file beside the target, then rename.
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, &self.encode())
    }

    /// Writes the envelope atomically to a new file: fails if anything (a file, a
    /// link) is at `path`, for evidence that is never overwritten.
    pub fn store_new(&self, path: &Path) -> std::io::Result<()> {
        nhi_provider_sdk::files::write_new(path, &self.encode(), 0o644)
    }
}

/// Reads at most `limit + 1` bytes of `path` in one open, so a size check on the
/// result holds for the bytes decoded.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    // Sized from the file's length, so reading never holds twice its size; the
    // read itself, not the length, is what the caller's check relies on.
    let expected = file.metadata().map_or(0, |m| m.len().min(limit + 1));
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit + 1), &mut bytes)?;
    Ok(bytes)
}

/// Whether these bytes are a JSON object with a `tag` field (of any value).
pub fn has_tag(bytes: &[u8], tag: &str) -> bool {
    serde_json::from_slice::<HashMap<Cow<'_, str>, &serde_json::value::RawValue>>(bytes)
        .is_ok_and(|fields| fields.contains_key(tag))
}

/// The tag field must be there and hold exactly `version`: told apart before the
/// layout is judged, so another version gets its own error.
fn check_tag(bytes: &[u8], tag: &str, version: u32) -> Result<(), SealError> {
    let fields: HashMap<Cow<'_, str>, &serde_json::value::RawValue> = serde_json::from_slice(bytes)
        .map_err(|e| SealError::NotSealed {
            detail: e.to_string(),
        })?;
    let Some(found) = fields.get(tag) else {
        return Err(SealError::NotSealed {
            detail: format!("it has no `{tag}` field"),
        });
    };
    match serde_json::from_str::<serde_json::Value>(found.get()) {
        Ok(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(version)) => Ok(()),
        _ => Err(SealError::UnsupportedFormat {
            found: found.get().chars().take(40).collect(),
        }),
    }
}

/// The envelope as written and read; field order is the file's.
struct Envelope<'a> {
    tag: &'static str,
    version: u32,
    body_digest: String,
    body: Cow<'a, str>,
    signatures: Cow<'a, [SignatureRecord]>,
}

impl Serialize for Envelope<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Envelope", 4)?;
        s.serialize_field(self.tag, &self.version)?;
        s.serialize_field("body_digest", &self.body_digest)?;
        s.serialize_field("body", &self.body)?;
        s.serialize_field("signatures", &self.signatures)?;
        s.end()
    }
}

/// Reads an envelope strictly: the four known fields, each at most once, nothing
/// else; `signatures` may be absent.
fn decode_envelope(
    mut de: serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
    tag: &'static str,
) -> Result<Envelope<'static>, serde_json::Error> {
    struct EnvelopeVisitor {
        tag: &'static str,
    }
    impl<'de> Visitor<'de> for EnvelopeVisitor {
        type Value = Envelope<'static>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an `{}` envelope", self.tag)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), E> {
                if slot.replace(value).is_some() {
                    return Err(E::custom(format_args!("duplicate field `{name}`")));
                }
                Ok(())
            }
            let mut version: Option<u32> = None;
            let mut body_digest: Option<String> = None;
            let mut body: Option<String> = None;
            let mut signatures: Option<Vec<SignatureRecord>> = None;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                match key.as_ref() {
                    k if k == self.tag => once(&mut version, map.next_value()?, self.tag)?,
                    "body_digest" => once(&mut body_digest, map.next_value()?, "body_digest")?,
                    "body" => once(&mut body, map.next_value()?, "body")?,
                    "signatures" => {
                        once(
                            &mut signatures,
                            map.next_value_seed(Signatures)?,
                            "signatures",
                        )?;
                    }
                    other => {
                        return Err(de::Error::custom(format_args!(
                            "unknown field `{other}`, expected one of `{}`, `body_digest`, `body`, `signatures`",
                            self.tag
                        )));
                    }
                }
            }
            let missing = |name: &str| de::Error::custom(format_args!("missing field `{name}`"));
            Ok(Envelope {
                tag: self.tag,
                version: version.ok_or_else(|| missing(self.tag))?,
                body_digest: body_digest.ok_or_else(|| missing("body_digest"))?,
                body: Cow::Owned(body.ok_or_else(|| missing("body"))?),
                signatures: Cow::Owned(signatures.unwrap_or_default()),
            })
        }
    }
    let envelope = serde::Deserializer::deserialize_map(&mut de, EnvelopeVisitor { tag })?;
    de.end()?;
    Ok(envelope)
}

/// The `signatures` array, refused while it is read once it holds more than
/// [`MAX_SIGNATURES`] records or a record larger than the limits allow.
struct Signatures;

impl<'de> de::DeserializeSeed<'de> for Signatures {
    type Value = Vec<SignatureRecord>;

    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Signatures {
    type Value = Vec<SignatureRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {MAX_SIGNATURES} signatures")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(record) = seq.next_element::<SignatureRecord>()? {
            if out.len() == MAX_SIGNATURES {
                return Err(de::Error::custom(format_args!(
                    "more than {MAX_SIGNATURES} signatures; nhi reads at most {MAX_SIGNATURES}"
                )));
            }
            let number = out.len() + 1;
            if record.statement.len() > MAX_STATEMENT_BYTES {
                return Err(de::Error::custom(format_args!(
                    "signature {number}: its statement is larger than {MAX_STATEMENT_BYTES} bytes"
                )));
            }
            if record.signature.len() > MAX_SIGNATURE_BYTES {
                return Err(de::Error::custom(format_args!(
                    "signature {number} is larger than {MAX_SIGNATURE_BYTES} bytes"
                )));
            }
            out.push(record);
        }
        Ok(out)
    }
}

/// Writes bytes to an unpredictable, exclusive temporary file in the target's
/// directory, syncs, and renames it over the target, so readers see the old file
/// or the new one, never a part, and a link planted beside it is never followed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    nhi_provider_sdk::files::write_replacing(path, bytes, 0o644)
}

/// A sealed record's place in its log (`crate::log`): receipts and
/// revocations carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainLink {
    /// 1 for the first receipt of the log, then one more for each.
    pub sequence: u64,
    /// The digest of the receipt before it (its `body_digest`), or [`crate::log::GENESIS`].
    pub previous: Digest,
}

/// Why a sealed file of the kind `what` ("a checkpoint") was refused, in words.
pub(crate) fn detail(e: &SealError, what: &str) -> String {
    match e {
        SealError::TooLarge { limit } => format!("larger than {limit} bytes"),
        SealError::NotSealed { detail } | SealError::Malformed { detail } => detail.clone(),
        SealError::UnsupportedFormat { found } => format!("format `{found}` is not supported"),
        SealError::DigestMismatch { recorded, computed } => format!(
            "its body does not match its digest (recorded `{recorded}`, computed `{computed}`)"
        ),
        SealError::Body { detail } => format!("its body is not {what}: {detail}"),
        #[allow(unreachable_patterns)]
        _ => format!("it is not {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Note {
        text: String,
    }

    impl SealedBody for Note {
        const TAG: &'static str = "nhi_note";
        const VERSION: u32 = 1;
        const MAX_BYTES: u64 = 1024 * 1024;
    }

    fn sealed_with(signatures: Vec<SignatureRecord>) -> Vec<u8> {
        let mut sealed = Sealed::new(Note { text: "hi".into() });
        sealed.signatures = signatures;
        sealed.encode()
    }

    fn record(statement: usize, signature: usize) -> SignatureRecord {
        SignatureRecord {
            statement: "s".repeat(statement),
            signature: "x".repeat(signature),
        }
    }

    fn malformed(bytes: &[u8]) -> String {
        match Sealed::<Note>::unseal(bytes) {
            Err(SealError::Malformed { detail }) => detail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_flood_of_signatures_is_refused_while_reading() {
        let at_limit = sealed_with(vec![record(10, 10); MAX_SIGNATURES]);
        assert_eq!(
            Sealed::<Note>::unseal(&at_limit).unwrap().signatures.len(),
            MAX_SIGNATURES
        );
        let over = sealed_with(vec![record(10, 10); MAX_SIGNATURES + 1]);
        assert!(
            malformed(&over).starts_with("more than 100 signatures; nhi reads at most 100"),
            "{}",
            malformed(&over)
        );
    }

    #[test]
    fn an_oversized_signature_is_refused() {
        let ok = sealed_with(vec![record(MAX_STATEMENT_BYTES, MAX_SIGNATURE_BYTES)]);
        assert!(Sealed::<Note>::unseal(&ok).is_ok());
        let statement = sealed_with(vec![record(1, 1), record(MAX_STATEMENT_BYTES + 1, 1)]);
        assert!(
            malformed(&statement)
                .starts_with("signature 2: its statement is larger than 8192 bytes"),
            "{}",
            malformed(&statement)
        );
        let signature = sealed_with(vec![record(1, MAX_SIGNATURE_BYTES + 1)]);
        assert!(
            malformed(&signature).starts_with("signature 1 is larger than 4096 bytes"),
            "{}",
            malformed(&signature)
        );
    }

    #[test]
    fn an_oversized_file_is_refused_before_parsing() {
        let mut bytes = sealed_with(Vec::new());
        bytes.resize(usize::try_from(Note::MAX_BYTES).unwrap() + 1, b' ');
        assert_eq!(
            Sealed::<Note>::unseal(&bytes).unwrap_err(),
            SealError::TooLarge {
                limit: Note::MAX_BYTES
            }
        );
    }
}
