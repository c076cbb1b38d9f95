//! Files that decide who may approve (the trust policy, the allowed signers)
//! and keys that sign: warned about, as OpenSSH warns about private keys, when
//! others can change (or, for a key, read) them, or when they sit inside the
//! checkout being applied, where whoever changes the repository controls them.

use std::path::{Path, PathBuf};

/// A file whose protection matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    TrustPolicy,
    AllowedSigners,
    PrivateKey,
}

impl Guarded {
    fn name(self) -> &'static str {
        match self {
            Self::TrustPolicy => "TRUST POLICY",
            Self::AllowedSigners => "ALLOWED SIGNERS",
            Self::PrivateKey => "PRIVATE KEY",
        }
    }

    /// Permission bits that must be clear: nobody but the owner may change a
    /// policy; nobody but the owner may read a private key either.
    fn forbidden_mode(self) -> u32 {
        match self {
            Self::TrustPolicy | Self::AllowedSigners => 0o022,
            Self::PrivateKey => 0o077,
        }
    }
}

/// Warnings, one line each, about `path` (a [`Guarded`] file) given the
/// directories of the checkout being applied (`checkouts`; may be empty).
/// Symbolic links are followed: what matters is the file that is read.
pub fn unprotected(what: Guarded, path: &Path, checkouts: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(real) = std::fs::canonicalize(path) else {
        return out;
    };
    let shown = path.display();
    if let Some(mode) = mode(&real)
        && mode & what.forbidden_mode() != 0
    {
        let who = if what == Guarded::PrivateKey {
            "others can read or change it"
        } else {
            "others can change who may approve"
        };
        out.push(format!(
            "WARNING: UNPROTECTED {} FILE! Permissions {:04o} for `{shown}` are too open: {who} (`chmod {} {shown}`)",
            what.name(),
            mode & 0o7777,
            if what == Guarded::PrivateKey { "600" } else { "go-w" },
        ));
    }
    for checkout in checkouts {
        let Ok(checkout) = std::fs::canonicalize(checkout) else {
            continue;
        };
        if real.starts_with(&checkout) {
            out.push(format!(
                "WARNING: UNPROTECTED {} FILE! `{shown}` is inside `{}`, the checkout being applied: whoever changes the repository controls it; keep it outside (see \"In CI\" in the README)",
                what.name(),
                checkout.display()
            ));
            break;
        }
    }
    out
}

#[cfg(unix)]
fn mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn files_others_can_change_or_that_sit_in_the_checkout_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let path = |d: &tempfile::TempDir, name: &str, mode: u32| {
            let p = d.path().join(name);
            std::fs::write(&p, "x").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let checkout = vec![dir.path().to_path_buf()];
        let cases: &[(Guarded, &tempfile::TempDir, u32, &[&str])] = &[
            (Guarded::TrustPolicy, &outside, 0o644, &[]),
            (
                Guarded::TrustPolicy,
                &outside,
                0o664,
                &["WARNING: UNPROTECTED TRUST POLICY FILE! Permissions 0664"],
            ),
            (
                Guarded::AllowedSigners,
                &outside,
                0o646,
                &["WARNING: UNPROTECTED ALLOWED SIGNERS FILE! Permissions 0646"],
            ),
            (Guarded::PrivateKey, &outside, 0o600, &[]),
            (
                Guarded::PrivateKey,
                &outside,
                0o640,
                &["WARNING: UNPROTECTED PRIVATE KEY FILE! Permissions 0640"],
            ),
            (
                Guarded::TrustPolicy,
                &dir,
                0o600,
                &["WARNING: UNPROTECTED TRUST POLICY FILE! `"],
            ),
        ];
        for (i, (what, d, mode, want)) in cases.iter().enumerate() {
            let p = path(d, &format!("f{i}"), *mode);
            let got = unprotected(*what, &p, &checkout);
            assert_eq!(got.len(), want.len(), "{i}: {got:?}");
            for (got, want) in got.iter().zip(*want) {
                assert!(got.starts_with(want), "{i}: {got}");
            }
        }
        // A link from outside into the checkout is judged by where it leads.
        let target = path(&dir, "real.yaml", 0o644);
        let link = outside.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let got = unprotected(Guarded::TrustPolicy, &link, &checkout);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("is inside"), "{}", got[0]);
    }
}
