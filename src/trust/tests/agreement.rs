//! nhi and stock `ssh-keygen -Y verify` agree on every signature: real
//! signatures (made by nhi's signer and by `ssh-keygen -Y sign`) mutated byte by
//! byte inside the SSHSIG blob, character by character in the armour, and in the
//! ways other tools write armour (CRLF, text around it, other wrapping). The
//! README tells auditors to check with `ssh-keygen`, so an approval nhi counts
//! must pass that check and one that passes it must be able to count.
//!
//! Needs `ssh-keygen`; skipped where it is missing unless `CI` is set, where a
//! missing `ssh-keygen` fails the test.
// A test's own report of what it ran (or skipped) belongs on its stderr.
#![allow(clippy::print_stderr, clippy::cast_possible_truncation)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nhi_provider_sdk::Digest;
use ssh_key::private::Ed25519Keypair;
use ssh_key::{LineEnding, PrivateKey};

use super::super::{AllowedSigners, PLAN_NAMESPACE, Role, Signer, Statement, verify_record};
use crate::plan::SignatureRecord;

const PRINCIPAL: &str = "alice@example.com";

/// A named way to change one byte.
type Way = (&'static str, fn(u8) -> u8);

fn ssh_keygen_present() -> bool {
    Command::new("ssh-keygen")
        .arg("-?")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

struct Bench {
    dir: tempfile::TempDir,
    statement: String,
    digest: Digest,
    signers: AllowedSigners,
}

impl Bench {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ssh-keygen -Y verify` of `signature` over the statement.
    fn openssh_accepts(&self, signature: &[u8]) -> bool {
        self.openssh_accepts_as(signature, "mutant")
    }

    /// [`Self::openssh_accepts`], through the file `NAME.sig`.
    fn openssh_accepts_as(&self, signature: &[u8], name: &str) -> bool {
        let sig = self.path(&format!("{name}.sig"));
        std::fs::write(&sig, signature).unwrap();
        let statement = std::fs::File::open(self.path("statement.txt")).unwrap();
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(self.path("allowed_signers"))
            .args(["-I", PRINCIPAL, "-n", PLAN_NAMESPACE, "-s"])
            .arg(&sig)
            .stdin(statement)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// nhi's verdict on `signature` over the statement; `None` when it cannot
    /// travel in a plan file at all (not UTF-8).
    fn nhi_accepts(&self, signature: &[u8]) -> Option<bool> {
        let signature = String::from_utf8(signature.to_vec()).ok()?;
        let record = SignatureRecord {
            statement: self.statement.clone(),
            signature,
        };
        Some(
            verify_record(
                1,
                &record,
                PLAN_NAMESPACE,
                &self.digest,
                &self.signers,
                None,
            )
            .is_ok(),
        )
    }
}

fn bench() -> (Bench, Signer) {
    let dir = tempfile::tempdir().unwrap();
    // A fixed key: ed25519 signatures are deterministic, so every run tries the
    // same mutants.
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
    let key_path = dir.path().join("alice.key");
    std::fs::write(
        &key_path,
        key.to_openssh(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    restrict(&key_path);
    let public = key.public_key().to_openssh().unwrap();
    let listed = format!("{PRINCIPAL} {public}\n");
    std::fs::write(dir.path().join("allowed_signers"), &listed).unwrap();
    let digest = Digest::of(b"the plan body");
    let statement = Statement {
        role: Role::Approver,
        principal: PRINCIPAL.into(),
        digest,
        signed_at: "2026-11-22T12:00:00Z".parse().unwrap(),
        comment: None,
    }
    .encode();
    std::fs::write(dir.path().join("statement.txt"), &statement).unwrap();
    let bench = Bench {
        dir,
        statement,
        digest,
        signers: AllowedSigners::parse(&listed).unwrap(),
    };
    (bench, Signer::File(Box::new(key)))
}

#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}

/// `ssh-keygen -Y sign -O hashalg=sha256`, the armour as ssh-keygen writes it.
fn signed_by_ssh_keygen(bench: &Bench) -> String {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-Y",
            "sign",
            "-O",
            "hashalg=sha256",
            "-n",
            PLAN_NAMESPACE,
            "-f",
        ])
        .arg(bench.path("alice.key"))
        .arg(bench.path("statement.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(bench.path("statement.txt.sig")).unwrap()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Armour as OpenSSH writes it: lines of 70 characters.
fn armour(blob: &[u8]) -> String {
    let text = base64(blob);
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for line in text.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END SSH SIGNATURE-----\n");
    out
}

fn blob_of(armoured: &str) -> Vec<u8> {
    let text: String = armoured
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        bits = bits << 6 | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    out
}

/// Length-prefixed fields of a blob, for mutations that keep its structure.
fn field_spans(blob: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 10;
    while at + 4 <= blob.len() {
        let len = u32::from_be_bytes(blob[at..at + 4].try_into().unwrap()) as usize;
        spans.push((at, len));
        at += 4 + len;
    }
    spans
}

fn put_string(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
}

/// Rebuilds a blob with field `n` (0: public key, 1: namespace, 2: reserved,
/// 3: hash algorithm, 4: signature) replaced.
fn with_field(blob: &[u8], n: usize, value: &[u8]) -> Vec<u8> {
    let mut out = blob[..10].to_vec();
    for (i, (at, len)) in field_spans(blob).into_iter().enumerate() {
        put_string(
            &mut out,
            if i == n {
                value
            } else {
                &blob[at + 4..at + 4 + len]
            },
        );
    }
    out
}

/// Mutants of one armoured signature, each named for the failure message;
/// with `per_character`, every character of the armour changed too.
fn mutants(armoured: &str, per_character: bool) -> Vec<(String, Vec<u8>)> {
    let blob = blob_of(armoured);
    assert_eq!(armour(&blob), armoured, "the test's armour is OpenSSH's");
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    // Every byte of the blob: its low bit flipped, and two more ways taken in
    // turn (a bounded run time: each mutant costs one `ssh-keygen`).
    let ways: [Way; 6] = [
        ("xor 0x80", |b| b ^ 0x80),
        ("+1", |b| b.wrapping_add(1)),
        ("-1", |b| b.wrapping_sub(1)),
        ("= 0x00", |_| 0),
        ("= 0xff", |_| 0xff),
        ("xor 0x10", |b| b ^ 0x10),
    ];
    for i in 0..blob.len() {
        let low_bit: Way = ("xor 0x01", |b| b ^ 0x01);
        for (how, f) in [low_bit, ways[(2 * i) % 6], ways[(2 * i + 1) % 6]] {
            let mut m = blob.clone();
            m[i] = f(m[i]);
            if m != blob {
                out.push((format!("blob byte {i} {how}"), armour(&m).into_bytes()));
            }
        }
    }
    // Lengths and structure.
    let mut versions = Vec::new();
    for v in [0u32, 2, 0x100] {
        let mut m = blob.clone();
        m[6..10].copy_from_slice(&v.to_be_bytes());
        versions.push((format!("version {v}"), m));
    }
    let spans = field_spans(&blob);
    let key = &blob[spans[0].0 + 4..spans[0].0 + 4 + spans[0].1];
    let sig = &blob[spans[4].0 + 4..spans[4].0 + 4 + spans[4].1];
    let key_with_type = |name: &[u8]| {
        let mut k = Vec::new();
        put_string(&mut k, name);
        k.extend_from_slice(&key[4 + 11..]);
        k
    };
    let mut sig_plus_order = sig.to_vec();
    // S + L, which OpenSSH reduces and accepts.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s_at = sig_plus_order.len() - 32;
    let mut carry = 0u16;
    for (b, l) in sig_plus_order[s_at..].iter_mut().zip(l) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    let structural: Vec<(&str, Vec<u8>)> = vec![
        ("a non-empty reserved field", with_field(&blob, 2, b"x")),
        ("a long reserved field", with_field(&blob, 2, &[7u8; 300])),
        (
            "namespace with a trailing NUL",
            with_field(&blob, 1, b"nhi-plan\0"),
        ),
        (
            "namespace with an inner NUL",
            with_field(&blob, 1, b"nhi\0plan"),
        ),
        ("hash algorithm with a trailing NUL", {
            let alg = &blob[spans[3].0 + 4..spans[3].0 + 4 + spans[3].1];
            with_field(&blob, 3, &[alg, b"\0"].concat())
        }),
        ("hash algorithm SHA512", with_field(&blob, 3, b"SHA512")),
        ("hash algorithm sha1", with_field(&blob, 3, b"sha1")),
        (
            "key type ED25519",
            with_field(&blob, 0, &key_with_type(b"ED25519")),
        ),
        (
            "key type ed25519",
            with_field(&blob, 0, &key_with_type(b"ed25519")),
        ),
        (
            "key type with a NUL",
            with_field(&blob, 0, &key_with_type(b"ssh-ed25519\0")),
        ),
        (
            "key with trailing data",
            with_field(&blob, 0, &[key, b"\0"].concat()),
        ),
        (
            "signature with trailing data",
            with_field(&blob, 4, &[sig, b"\0"].concat()),
        ),
        (
            "scalar plus the group order",
            with_field(&blob, 4, &sig_plus_order),
        ),
        ("trailing data", [&blob[..], b"\0"].concat()),
        ("truncated by one", blob[..blob.len() - 1].to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, m) in versions {
        out.push((name, armour(&m).into_bytes()));
    }
    for (name, m) in structural {
        out.push((name.to_owned(), armour(&m).into_bytes()));
    }
    // The armour as other tools and hands write it.
    let body: String = armoured
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let wrapped = |width: usize, eol: &str| {
        let mut s = format!("-----BEGIN SSH SIGNATURE-----{eol}");
        for line in body.as_bytes().chunks(width) {
            s.push_str(std::str::from_utf8(line).unwrap());
            s.push_str(eol);
        }
        s.push_str("-----END SSH SIGNATURE-----");
        s.push_str(eol);
        s
    };
    let armours: Vec<(&str, String)> = vec![
        ("CRLF line ends", armoured.replace('\n', "\r\n")),
        ("a CRLF header only", armoured.replacen('\n', "\r\n", 1)),
        ("CR line ends", armoured.replace('\n', "\r")),
        ("text before the armour", format!("signature:\n{armoured}")),
        ("a space before the armour", format!(" {armoured}")),
        ("a blank line before the armour", format!("\n{armoured}")),
        (
            "text after the armour",
            format!("{armoured}trailing words\n"),
        ),
        ("a second armour after it", format!("{armoured}{armoured}")),
        ("no final line end", armoured.trim_end().to_owned()),
        ("unwrapped base64", wrapped(100_000, "\n")),
        ("base64 wrapped at 64", wrapped(64, "\n")),
        ("base64 wrapped at 76 with CRLF", wrapped(76, "\r\n")),
        ("base64 wrapped at 1", wrapped(1, "\n")),
        (
            "tabs and spaces in the base64",
            armoured.replace('\n', " \t\n"),
        ),
        (
            "a form feed in the base64",
            armoured.replacen("AAAA", "AA\x0cAA", 1),
        ),
        ("padding removed", armoured.replace('=', "")),
        ("padding doubled", armoured.replace("=\n", "==\n")),
        ("a space inside the padding", armoured.replace("==", "= =")),
        ("text after the padding", armoured.replace("=\n-", "=x\n-")),
        (
            "a NUL before the footer",
            armoured.replace("\n-----END", "\0\n-----END"),
        ),
        (
            "a NUL inside the base64",
            armoured.replacen("AAAA", "AA\0AA", 1),
        ),
        (
            "a lowercase header",
            armoured.replace("BEGIN SSH", "begin ssh"),
        ),
        (
            "no header line end",
            armoured.replacen("-----\n", "-----", 1),
        ),
        (
            "no footer",
            armoured.replace("-----END SSH SIGNATURE-----\n", ""),
        ),
        (
            "the footer without dashes after it",
            armoured.replace("SIGNATURE-----\n", "SIGNATURE\n"),
        ),
        (
            "the footer on the last base64 line",
            armoured.replace("\n-----END", "-----END"),
        ),
        (
            "an empty line before the footer",
            armoured.replace("\n-----END", "\n\n-----END"),
        ),
        (
            "a PEM label",
            armoured.replace("SSH SIGNATURE", "SIGNATURE"),
        ),
    ];
    for (name, m) in armours {
        out.push((name.to_owned(), m.into_bytes()));
    }
    if !per_character {
        return out;
    }
    // Every character of the armour replaced, one way each, chosen in turn.
    let replacements = [b' ', b'\r', b'=', b'A', 0, b'-', b'\n', b'/', b'*', b'\t'];
    for (i, original) in armoured.bytes().enumerate() {
        let with = replacements[i % replacements.len()];
        if with != original {
            let mut m = armoured.as_bytes().to_vec();
            m[i] = with;
            out.push((format!("armour byte {i} = {with:#04x}"), m));
        }
        let mut deleted = armoured.as_bytes().to_vec();
        deleted.remove(i);
        out.push((format!("armour byte {i} deleted"), deleted));
    }
    out
}

#[test]
fn nhi_and_ssh_keygen_agree_on_every_mutated_signature() {
    if !ssh_keygen_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ssh-keygen is required in CI (CI is set)"
        );
        eprintln!("skipped: ssh-keygen is not installed");
        return;
    }
    let started = std::time::Instant::now();
    let (bench, signer) = bench();
    let by_nhi = signer
        .sign(PLAN_NAMESPACE, bench.statement.as_bytes())
        .unwrap();
    let by_ssh_keygen = signed_by_ssh_keygen(&bench);
    // Where OpenSSH releases disagree, nhi refuses (see `trust::sshsig`).
    let stricter_than_some_releases = [
        "scalar plus the group order",
        "CRLF line ends",
        "a CRLF header only",
        "base64 wrapped at 76 with CRLF",
    ];
    let mut judged = Vec::new();
    // Both armours are OpenSSH's layout: the characters of one are enough.
    for (seed, armoured, per_character) in [
        ("nhi", &by_nhi, true),
        ("ssh-keygen", &by_ssh_keygen, false),
    ] {
        assert_eq!(bench.nhi_accepts(armoured.as_bytes()), Some(true), "{seed}");
        assert!(bench.openssh_accepts(armoured.as_bytes()), "{seed}");
        for (name, mutant) in mutants(armoured, per_character) {
            let Some(nhi) = bench.nhi_accepts(&mutant) else {
                continue;
            };
            if stricter_than_some_releases.contains(&name.as_str()) {
                assert!(!nhi, "{seed} signature, {name}: nhi must refuse it");
                continue;
            }
            judged.push((format!("{seed} signature, {name}"), mutant, nhi));
        }
    }
    // Two `ssh-keygen` at a time, each through its own file.
    let half = judged.len().div_ceil(2);
    let results: Vec<(String, bool, bool)> = std::thread::scope(|scope| {
        let workers: Vec<_> = judged
            .chunks(half)
            .enumerate()
            .map(|(n, chunk)| {
                let bench = &bench;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, mutant, nhi)| {
                            let openssh = bench.openssh_accepts_as(mutant, &format!("worker-{n}"));
                            (name.clone(), *nhi, openssh)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let tried = results.len();
    let accepted = results.iter().filter(|(_, _, openssh)| *openssh).count();
    let disagreements: Vec<String> = results
        .iter()
        .filter(|(_, nhi, openssh)| nhi != openssh)
        .map(|(name, nhi, openssh)| {
            format!(
                "{name}: nhi {}, ssh-keygen {}",
                if *nhi { "accepts" } else { "rejects" },
                if *openssh { "accepts" } else { "rejects" },
            )
        })
        .collect();
    eprintln!(
        "{tried} mutants, {accepted} accepted by both, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {tried} mutants judged differently:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // The mutations reach what matters: some are accepted, most are not.
    assert!(
        accepted > 20 && accepted < tried / 2,
        "{accepted} of {tried}"
    );
}
