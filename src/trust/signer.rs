//! Signers: an OpenSSH ed25519 private key file, or a key held by a running
//! ssh-agent (named by its public key file), so hardware-backed keys work. No
//! private key material ever leaves this module.

use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use super::TrustError;

/// Something that can make SSHSIG signatures.
pub enum Signer {
    File(Box<PrivateKey>),
    Agent { socket: PathBuf, public: PublicKey },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even by accident.
        f.write_str(match self {
            Self::File(_) => "Signer::File",
            Self::Agent { .. } => "Signer::Agent",
        })
    }
}

impl Signer {
    /// Opens `--key FILE`: a private key file signs directly; a public key file
    /// (`.pub`) signs through the ssh-agent at `agent` (the caller's
    /// `SSH_AUTH_SOCK`) with that key.
    pub fn open(path: &Path, agent: Option<&Path>) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrustError::Key {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        let key_error = |detail: String| TrustError::Key {
            path: path.to_owned(),
            detail,
        };
        if text
            .trim_start()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        {
            // A key written from a CI secret often ends in a blank line, which
            // OpenSSH accepts and the PEM reader does not.
            let pem = format!("{}\n", text.trim());
            let key = PrivateKey::from_openssh(&pem).map_err(|e| key_error(e.to_string()))?;
            if key.is_encrypted() {
                return Err(TrustError::EncryptedKey {
                    path: path.display().to_string(),
                });
            }
            check_algorithm(&key.algorithm()).map_err(key_error)?;
            return Ok(Self::File(Box::new(key)));
        }
        let public = PublicKey::from_openssh(text.trim()).map_err(|e| {
            key_error(format!(
                "neither an OpenSSH private key nor a public key: {e}"
            ))
        })?;
        check_algorithm(&public.algorithm()).map_err(key_error)?;
        let socket = agent
            .map(Path::to_path_buf)
            .ok_or_else(|| TrustError::Agent {
                detail: "`SSH_AUTH_SOCK` is not set".into(),
            })?;
        Ok(Self::Agent { socket, public })
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::File(key) => key.public_key().clone(),
            Self::Agent { public, .. } => public.clone(),
        }
    }

    /// The key's comment, the default principal (`ssh-keygen` writes `user@host`).
    pub fn comment(&self) -> String {
        match self {
            Self::File(key) => key.comment().to_owned(),
            Self::Agent { public, .. } => public.comment().to_owned(),
        }
    }

    /// Signs `message` in `namespace` and returns the armored signature.
    pub fn sign(&self, namespace: &str, message: &[u8]) -> Result<String, TrustError> {
        let sig = match self {
            Self::File(key) => {
                key.sign(namespace, HashAlg::Sha512, message)
                    .map_err(|e| TrustError::Sign {
                        detail: e.to_string(),
                    })?
            }
            Self::Agent { socket, public } => {
                let data =
                    SshSig::signed_data(namespace, HashAlg::Sha512, message).map_err(|e| {
                        TrustError::Sign {
                            detail: e.to_string(),
                        }
                    })?;
                let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(|e| {
                    TrustError::Agent {
                        detail: format!("cannot connect to `{}`: {e}", socket.display()),
                    }
                })?;
                let signature = client.sign(public, &data).map_err(|e| TrustError::Agent {
                    detail: format!("the agent refused to sign: {e}"),
                })?;
                SshSig::new(
                    public.key_data().clone(),
                    namespace,
                    HashAlg::Sha512,
                    signature,
                )
                .map_err(|e| TrustError::Sign {
                    detail: e.to_string(),
                })?
            }
        };
        sig.to_pem(LineEnding::LF).map_err(|e| TrustError::Sign {
            detail: e.to_string(),
        })
    }
}

fn check_algorithm(algorithm: &Algorithm) -> Result<(), String> {
    if *algorithm == Algorithm::Ed25519 {
        Ok(())
    } else {
        Err(format!(
            "`{algorithm}` keys are not accepted; nhi signs with ed25519 keys (`ssh-keygen -t ed25519`)"
        ))
    }
}
