//! SSHSIG signatures read exactly as stock OpenSSH reads them (`ssh-keygen -Y
//! verify`, `sshsig.c`): the same armour, the same base64, the same fields, so
//! every signature nhi counts passes the auditor's `ssh-keygen` check and every
//! one `ssh-keygen` accepts can count in nhi. Where OpenSSH releases differ, nhi
//! reads as the stricter does: a `\r\n` after the header line (accepted since
//! OpenSSH 9.5) and an ed25519 scalar past the group order (accepted by
//! OpenSSH's own ed25519 code, refused by builds on OpenSSL's) are refused.
//! Only ed25519 keys.

use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::{Algorithm, HashAlg, PublicKey, Signature, SshSig};

/// The header and its line end, as every OpenSSH release accepts it.
const BEGIN: &[u8] = b"-----BEGIN SSH SIGNATURE-----\n";
const END: &[u8] = b"\n-----END SSH SIGNATURE-----";
const MAGIC: &[u8] = b"SSHSIG";
/// OpenSSH reads versions up to this one (and 0).
const MAX_VERSION: u32 = 1;

/// A signature as decoded, every field as written (so it can be re-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields<'a> {
    version: u32,
    key_type: &'a [u8],
    public_key: &'a [u8],
    namespace: &'a [u8],
    reserved: &'a [u8],
    hash_alg: &'a [u8],
    signature_type: &'a [u8],
    signature: &'a [u8],
}

/// A decoded ed25519 SSHSIG signature.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub key: PublicKey,
    /// The namespace as OpenSSH compares it (up to a trailing NUL).
    pub namespace: String,
    hash_alg: HashAlg,
    signature: [u8; 64],
}

/// Decodes an armored signature as `ssh-keygen -Y verify` does, and refuses what
/// it refuses: text before the armour, a header without its line end, no footer,
/// base64 that is not padded or holds stray bits, NUL bytes, unknown fields,
/// trailing data, lengths that disagree, a hash other than sha256 or sha512.
/// Text after the footer and whitespace inside the base64 are ignored, as there.
pub(crate) fn decode(armored: &[u8]) -> Result<Decoded, String> {
    let blob = dearmor(armored)?;
    let fields = parse(&blob)?;
    // The fields must encode back to the exact bytes read: nothing was skipped.
    if encode(&fields) != blob {
        return Err("it is not in canonical form".into());
    }
    if !is_ed25519_key_type(fields.key_type) {
        return Err("only ed25519 signatures are accepted".into());
    }
    let public_key: [u8; 32] = fields
        .public_key
        .try_into()
        .map_err(|_| "its ed25519 public key is not 32 bytes".to_owned())?;
    if c_string(fields.signature_type) != b"ssh-ed25519" {
        return Err("its signature is not an ed25519 signature".into());
    }
    let signature: [u8; 64] = fields
        .signature
        .try_into()
        .map_err(|_| "its ed25519 signature is not 64 bytes".to_owned())?;
    let hash_alg = match c_string(fields.hash_alg) {
        b"sha256" => HashAlg::Sha256,
        b"sha512" => HashAlg::Sha512,
        _ => return Err("its hash algorithm is neither sha256 nor sha512".into()),
    };
    let namespace = String::from_utf8(c_string(fields.namespace).to_vec())
        .map_err(|_| "its namespace is not UTF-8".to_owned())?;
    Ok(Decoded {
        key: PublicKey::from(KeyData::Ed25519(Ed25519PublicKey(public_key))),
        namespace,
        hash_alg,
        signature,
    })
}

impl Decoded {
    /// Whether this is a good signature of `message` in `namespace`.
    pub(crate) fn verifies(&self, namespace: &str, message: &[u8]) -> bool {
        if self.namespace != namespace || namespace.is_empty() {
            return false;
        }
        // ed25519-dalek refuses a scalar past the group order, as OpenSSH does
        // when built on OpenSSL's ed25519 (OpenSSH's own code reduces it).
        let Ok(signature) = Signature::new(Algorithm::Ed25519, self.signature.to_vec()) else {
            return false;
        };
        // What is signed never holds the reserved field or the version, so the
        // canonical envelope of these fields verifies exactly when OpenSSH would.
        let Ok(sig) = SshSig::new(
            self.key.key_data().clone(),
            namespace,
            self.hash_alg,
            signature,
        ) else {
            return false;
        };
        self.key.verify(namespace, message, &sig).is_ok()
    }
}

/// `ssh-ed25519`, or OpenSSH's short name for plain ed25519 keys, in any case.
fn is_ed25519_key_type(name: &[u8]) -> bool {
    let name = c_string(name);
    name == b"ssh-ed25519" || name.eq_ignore_ascii_case(b"ed25519")
}

/// A string field as C reads it: up to a NUL, which [`Reader::c_string`] allows
/// only as the last byte.
fn c_string(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\0").unwrap_or(bytes)
}

/// The armour as `sshsig_dearmor` strips it: the header line at the very start;
/// the base64 runs to the first `\n-----END SSH SIGNATURE-----`; whatever
/// follows the footer is ignored.
fn dearmor(armored: &[u8]) -> Result<Vec<u8>, String> {
    let rest = armored
        .strip_prefix(BEGIN)
        .ok_or("it does not start with a `-----BEGIN SSH SIGNATURE-----` line")?;
    let end = rest
        .windows(END.len())
        .position(|w| w == END)
        .ok_or("it has no `-----END SSH SIGNATURE-----` line")?;
    let mut text = &rest[..end];
    if let Some(nul) = text.iter().position(|b| *b == 0) {
        if nul + 1 != text.len() {
            return Err("it holds a NUL byte".into());
        }
        text = &text[..nul];
    }
    base64_decode(text).ok_or_else(|| "its base64 is not valid".into())
}

/// Base64 as OpenSSH's `b64_pton` reads it: whitespace anywhere is skipped,
/// padding is required, nothing but whitespace may follow it, and the bits past
/// the last byte must be zero.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    // C's `isspace` in the C locale.
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    // OpenSSH decodes into a buffer as long as the text; one byte past the
    // output is always there to hold the stray bits.
    let mut out = vec![0u8; text.len() + 1];
    let mut at = 0;
    let mut state = 0;
    let mut chars = text.iter().copied();
    let mut padded = false;
    for c in chars.by_ref() {
        if space(c) {
            continue;
        }
        if c == b'=' {
            padded = true;
            break;
        }
        let v = value(c)?;
        match state {
            0 => out[at] = v << 2,
            1 => {
                out[at] |= v >> 4;
                out[at + 1] = (v & 0x0f) << 4;
                at += 1;
            }
            2 => {
                out[at] |= v >> 2;
                out[at + 1] = (v & 0x03) << 6;
                at += 1;
            }
            _ => {
                out[at] |= v;
                at += 1;
            }
        }
        state = (state + 1) % 4;
    }
    if padded {
        match state {
            2 => {
                // A second `=`, after any whitespace.
                if chars.by_ref().find(|c| !space(*c)) != Some(b'=') {
                    return None;
                }
            }
            3 => {}
            _ => return None,
        }
        if chars.any(|c| !space(c)) || out[at] != 0 {
            return None;
        }
    } else if state != 0 {
        return None;
    }
    out.truncate(at);
    Some(out)
}

/// Big-endian length-prefixed fields, as `sshbuf` reads them.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > self.bytes.len() {
            return None;
        }
        let (value, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(value)
    }

    /// A string that holds no NUL byte, except as its last.
    fn c_string(&mut self) -> Option<&'a [u8]> {
        let value = self.string()?;
        match value.iter().position(|b| *b == 0) {
            Some(nul) if nul + 1 != value.len() => None,
            _ => Some(value),
        }
    }

    fn done(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn parse(blob: &[u8]) -> Result<Fields<'_>, String> {
    let bad = |what: &str| format!("its {what} is malformed");
    let rest = blob
        .strip_prefix(MAGIC)
        .ok_or("it does not start with `SSHSIG`")?;
    let mut reader = Reader { bytes: rest };
    let version = reader.u32().ok_or_else(|| bad("version"))?;
    if version > MAX_VERSION {
        return Err(format!("its version {version} is not supported"));
    }
    let key_blob = reader.string().ok_or_else(|| bad("public key"))?;
    let namespace = reader.c_string().ok_or_else(|| bad("namespace"))?;
    let reserved = reader.string().ok_or_else(|| bad("reserved field"))?;
    let hash_alg = reader.c_string().ok_or_else(|| bad("hash algorithm"))?;
    let signature_blob = reader.string().ok_or_else(|| bad("signature"))?;
    if !reader.done() {
        return Err("it has trailing data".into());
    }
    let mut key = Reader { bytes: key_blob };
    let key_type = key.c_string().ok_or_else(|| bad("public key"))?;
    let public_key = key.string().ok_or_else(|| bad("public key"))?;
    if !key.done() {
        return Err(bad("public key"));
    }
    let mut sig = Reader {
        bytes: signature_blob,
    };
    let signature_type = sig.c_string().ok_or_else(|| bad("signature"))?;
    let signature = sig.string().ok_or_else(|| bad("signature"))?;
    if !sig.done() {
        return Err(bad("signature"));
    }
    Ok(Fields {
        version,
        key_type,
        public_key,
        namespace,
        reserved,
        hash_alg,
        signature_type,
        signature,
    })
}

fn encode(fields: &Fields<'_>) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, value: &[u8]) {
        let len = u32::try_from(value.len()).expect("invariant: fields come from a parsed blob");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    let mut key = Vec::new();
    string(&mut key, fields.key_type);
    string(&mut key, fields.public_key);
    let mut sig = Vec::new();
    string(&mut sig, fields.signature_type);
    string(&mut sig, fields.signature);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&fields.version.to_be_bytes());
    string(&mut out, &key);
    string(&mut out, fields.namespace);
    string(&mut out, fields.reserved);
    string(&mut out, fields.hash_alg);
    string(&mut out, &sig);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_openssh_reads_it() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("QUJD", Some(b"ABC")),
            ("QUI=", Some(b"AB")),
            ("QQ==", Some(b"A")),
            ("Q Q\r\n= =\n", Some(b"A")),
            ("QUJ", None),
            ("QQ", None),
            ("QR==", None),
            ("QUM=", Some(b"AC")),
            ("QUN=", None),
            ("QQ==QQ==", None),
            ("Q===", None),
            ("=", None),
            ("QUJD*", None),
            ("", Some(b"")),
        ];
        for (text, want) in cases {
            assert_eq!(base64_decode(text.as_bytes()).as_deref(), *want, "{text:?}");
        }
    }
}
