//! Verification: every signature against the allowed signers, then the trust
//! policy's approval rules, then expiry — in apply's order, failing closed.

use std::collections::BTreeSet;

use nhi_provider_sdk::Digest;
use ssh_key::{Algorithm, PublicKey, SshSig};

use super::TrustError;
use super::allowed_signers::AllowedSigners;
use super::policy::TrustPolicy;
use super::statement::{Role, Statement};
use crate::plan::{PlanBody, SignatureRecord};

/// A signature that verified: its statement and the key that made it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub statement: Statement,
    pub key: PublicKey,
}

impl Signed {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn key_fingerprint(&self) -> String {
        self.key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
    }
}

/// Whether a plan already carries an author signature: a record whose statement
/// reads as one in the author role (verified or not: a plan has one author slot).
pub fn has_author_signature(signatures: &[SignatureRecord]) -> bool {
    signatures.iter().any(|s| {
        Statement::parse(&s.statement).is_ok_and(|statement| statement.role == Role::Author)
    })
}

/// Verifies one signature record: armored SSHSIG, our namespace, ed25519, the
/// statement's canonical form and digest, the cryptographic signature, and the
/// allowed signers entry for the claimed principal at the signing time.
pub fn verify_record(
    index: usize,
    record: &SignatureRecord,
    namespace: &str,
    digest: &Digest,
    signers: &AllowedSigners,
    now: Option<jiff::Timestamp>,
) -> Result<Signed, TrustError> {
    let bad = |detail: String| TrustError::BadSignature { index, detail };
    let sig = SshSig::from_pem(record.signature.as_bytes())
        .map_err(|e| bad(format!("not an SSH signature: {e}")))?;
    if sig.namespace() != namespace {
        return Err(bad(format!(
            "namespace `{}` is not `{namespace}`",
            sig.namespace().chars().take(40).collect::<String>()
        )));
    }
    if sig.algorithm() != Algorithm::Ed25519 {
        return Err(bad("only ed25519 signatures are accepted".into()));
    }
    let statement =
        Statement::parse(&record.statement).map_err(|e| bad(format!("statement: {e}")))?;
    let key = PublicKey::from(sig.public_key().clone());
    key.verify(namespace, record.statement.as_bytes(), &sig)
        .map_err(|_| {
            bad(format!(
                "the {} signature of `{}` does not verify",
                statement.role, statement.principal
            ))
        })?;
    if statement.digest != *digest {
        return Err(TrustError::WrongPlan {
            role: statement.role.to_string(),
            principal: statement.principal.clone(),
            signed: statement.digest.to_string(),
            actual: digest.to_string(),
        });
    }
    // The signed-at time is the signer's claim. When judging for use (`now` given),
    // the key must be valid now as well, so a key past its `valid-before` cannot
    // keep signing by backdating, and no signature may come from the future.
    if let Some(now) = now
        && statement.signed_at > now + jiff::SignedDuration::from_mins(5)
    {
        return Err(bad(format!(
            "it claims to be signed at {}, in the future",
            statement.signed_at
        )));
    }
    let valid_now =
        now.is_none_or(|now| signers.allows(&statement.principal, &key, namespace, now));
    if !valid_now || !signers.allows(&statement.principal, &key, namespace, statement.signed_at) {
        let listed = signers.principals_of(&key);
        return Err(TrustError::UnknownSigner {
            role: statement.role.to_string(),
            principal: statement.principal.clone(),
            key: key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            listed: if listed.is_empty() {
                "none".into()
            } else {
                listed.join(", ")
            },
        });
    }
    Ok(Signed { statement, key })
}

/// How a plan stands against a trust policy.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub author: Option<Signed>,
    /// Approvals that count, one per distinct principal and key.
    pub counted: Vec<Signed>,
    /// Valid approvals that do not count, and why.
    pub ignored: Vec<(Signed, String)>,
    /// Approvals the plan needs.
    pub required: usize,
    /// What is still missing, in words; empty when the policy is met.
    pub missing: Vec<String>,
}

/// Verifies a plan's signatures and judges it against the policy. Returns the
/// standing and, separately, the first failure in apply's order (so `nhi verify`
/// can show everything it learned before failing).
pub fn judge_plan(
    body: &PlanBody,
    digest: &Digest,
    records: &[SignatureRecord],
    policy: &TrustPolicy,
    signers: &AllowedSigners,
    now: jiff::Timestamp,
) -> (Standing, Option<TrustError>) {
    let mut standing = Standing::default();
    let mut signed = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match verify_record(
            index + 1,
            record,
            super::PLAN_NAMESPACE,
            digest,
            signers,
            Some(now),
        ) {
            Ok(s)
                if s.statement.signed_at + jiff::SignedDuration::from_mins(5) < body.created_at =>
            {
                return (
                    standing,
                    Some(TrustError::BadSignature {
                        index: index + 1,
                        detail: format!(
                            "it claims to be signed at {}, before the plan was made",
                            s.statement.signed_at
                        ),
                    }),
                );
            }
            Ok(s) if s.statement.role == Role::Applier => {
                return (
                    standing,
                    Some(TrustError::BadSignature {
                        index: index + 1,
                        detail: "an applier signature has no place on a plan".into(),
                    }),
                );
            }
            Ok(s) => signed.push(s),
            Err(e) => return (standing, Some(e)),
        }
    }
    let authors: Vec<&Signed> = signed
        .iter()
        .filter(|s| s.statement.role == Role::Author)
        .collect();
    if authors.len() > 1 {
        return (
            standing,
            Some(TrustError::MultipleAuthors {
                count: authors.len(),
            }),
        );
    }
    standing.author = authors.first().map(|s| (*s).clone());
    let mut failure = None;
    match &standing.author {
        None if policy.require_author_signature => failure = Some(TrustError::Unsigned),
        Some(a)
            if !policy.authors.is_empty() && !policy.authors.contains(&a.statement.principal) =>
        {
            failure = Some(TrustError::AuthorNotAllowed {
                principal: a.statement.principal.clone(),
            });
        }
        _ => {}
    }
    count_approvals(
        &mut standing,
        signed.iter().filter(|s| s.statement.role == Role::Approver),
        policy,
    );
    apply_rules(&mut standing, body, policy);
    if failure.is_none() && !standing.missing.is_empty() {
        failure = Some(TrustError::InsufficientApprovals {
            have: standing.counted.len(),
            need: standing.required,
            detail: standing.missing.join("; "),
        });
    }
    if failure.is_none() {
        failure = check_time(body, policy, now).err();
    }
    (standing, failure)
}

fn count_approvals<'a>(
    standing: &mut Standing,
    approvals: impl Iterator<Item = &'a Signed>,
    policy: &TrustPolicy,
) {
    let mut principals = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let author = standing.author.clone();
    let mut approvals: Vec<&Signed> = approvals.collect();
    approvals.sort_by_key(|s| s.statement.signed_at);
    for approval in approvals {
        let principal = approval.statement.principal.clone();
        let key = approval.key_fingerprint();
        let by_author = author
            .as_ref()
            .is_some_and(|a| a.statement.principal == principal || a.key_fingerprint() == key);
        let why = if by_author && !policy.author_counts {
            Some("the author cannot approve their own plan")
        } else if principals.contains(&principal) {
            Some("this principal already approved")
        } else if keys.contains(&key) {
            Some("this key already approved under another principal")
        } else {
            None
        };
        if let Some(why) = why {
            standing.ignored.push((approval.clone(), why.to_owned()));
        } else {
            principals.insert(principal);
            keys.insert(key);
            standing.counted.push(approval.clone());
        }
    }
}

fn apply_rules(standing: &mut Standing, body: &PlanBody, policy: &TrustPolicy) {
    let risks: BTreeSet<_> = body.changes.iter().map(|c| c.risk).collect();
    standing.required = policy.required;
    let mut why_required = format!("the policy requires {}", policy.required);
    for rule in policy.rules.iter().filter(|r| risks.contains(&r.when)) {
        if let Some(n) = rule.required.filter(|n| *n > standing.required) {
            standing.required = n;
            why_required = format!("{} changes require {n}", rule.when);
        }
        if !rule.require_one_of.is_empty()
            && !standing
                .counted
                .iter()
                .any(|s| rule.require_one_of.contains(&s.statement.principal))
        {
            standing.missing.push(format!(
                "{} changes need an approval from one of {}",
                rule.when,
                rule.require_one_of.join(", ")
            ));
        }
    }
    if standing.counted.len() < standing.required {
        standing.missing.insert(
            0,
            format!(
                "{why_required} distinct approver{}",
                if standing.required == 1 { "" } else { "s" }
            ),
        );
    }
}

/// Expiry, by the plan's own `expires_at` and by the policy's `max_plan_age`.
pub fn check_time(
    body: &PlanBody,
    policy: &TrustPolicy,
    now: jiff::Timestamp,
) -> Result<(), TrustError> {
    // Five minutes of clock skew between planner and applier are tolerated.
    if body.created_at > now + jiff::SignedDuration::from_mins(5) {
        return Err(TrustError::FromTheFuture {
            created_at: body.created_at,
            now,
        });
    }
    let mut expires_at = body.expires_at;
    if let Some(age) = policy.max_plan_age {
        expires_at = expires_at.min(
            body.created_at
                .checked_add(age.as_duration())
                .unwrap_or(expires_at),
        );
    }
    if now >= expires_at {
        return Err(TrustError::Expired { expires_at, now });
    }
    Ok(())
}
