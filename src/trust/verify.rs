//! Verification: every signature against the allowed signers, then the trust
//! policy's approval rules, then expiry — in apply's order, failing closed.

use std::collections::BTreeSet;

use nhi_provider_sdk::Digest;
use ssh_key::PublicKey;

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

/// Verifies one signature record: armored SSHSIG exactly as `ssh-keygen -Y
/// verify` reads it, our namespace, ed25519, the statement's canonical form and
/// digest, the cryptographic signature, and the allowed signers entry for the
/// claimed principal at the signing time.
pub fn verify_record(
    index: usize,
    record: &SignatureRecord,
    namespace: &str,
    digest: &Digest,
    signers: &AllowedSigners,
    now: Option<jiff::Timestamp>,
) -> Result<Signed, TrustError> {
    let bad = |detail: String| TrustError::BadSignature { index, detail };
    let sig = super::sshsig::decode(record.signature.as_bytes())
        .map_err(|e| bad(format!("not an SSH signature: {e}")))?;
    if sig.namespace != namespace {
        return Err(bad(format!(
            "namespace `{}` is not `{namespace}`",
            sig.namespace
                .chars()
                .take(40)
                .filter(|c| !nhi_provider_sdk::text::is_unsafe_char(*c))
                .collect::<String>()
        )));
    }
    let statement =
        Statement::parse(&record.statement).map_err(|e| bad(format!("statement: {e}")))?;
    if !sig.verifies(namespace, record.statement.as_bytes()) {
        return Err(bad(format!(
            "the {} signature of `{}` does not verify",
            statement.role, statement.principal
        )));
    }
    let key = sig.key;
    if statement.digest != *digest {
        return Err(TrustError::WrongPlan {
            index,
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
            index,
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
#[derive(Debug, Default)]
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
    /// Every signature of the plan, in file order, with its verdict.
    pub signatures: Vec<SignatureVerdict>,
}

/// One signature of a plan and what it counts for: each is judged on its own, so
/// one that does not verify hides nothing about the others.
#[derive(Debug)]
pub struct SignatureVerdict {
    /// From 1, in file order (`nhi unsign PLAN N` takes this number).
    pub index: usize,
    /// The statement as it reads, verified or not; `None` when it does not parse.
    pub statement: Option<Statement>,
    /// `SHA256:…` of the key the signature names, when it decodes.
    pub key_fingerprint: Option<String>,
    pub verdict: Verdict,
}

/// What a signature counts for.
#[derive(Debug)]
pub enum Verdict {
    /// The plan's one verified author signature.
    Author,
    /// A verified approval that counts.
    Counted,
    /// A verified signature that does not count, and why.
    Ignored(String),
    /// A signature that does not verify: apply refuses the plan while it is there.
    Invalid {
        /// The refusal's stable code, e.g. `nhi::trust::unknown_signer`.
        code: String,
        message: String,
    },
}

impl SignatureVerdict {
    fn of(index: usize, record: &SignatureRecord, verdict: Verdict) -> Self {
        Self {
            index,
            statement: Statement::parse(&record.statement).ok(),
            key_fingerprint: super::sshsig::decode(record.signature.as_bytes())
                .ok()
                .map(|s| s.key.fingerprint(ssh_key::HashAlg::Sha256).to_string()),
            verdict,
        }
    }
}

/// Verifies a plan's signatures and judges it against the policy. Every
/// signature is judged on its own and the standing counts those that verify;
/// the failure is the first refusal in apply's order (a signature that does not
/// verify first), so `nhi verify` can show everything it learned, and apply
/// still refuses a plan carrying a signature that does not verify.
pub fn judge_plan(
    body: &PlanBody,
    digest: &Digest,
    records: &[SignatureRecord],
    policy: &TrustPolicy,
    signers: &AllowedSigners,
    now: jiff::Timestamp,
) -> (Standing, Option<TrustError>) {
    let mut standing = Standing::default();
    let mut failure = None;
    // Verified signatures, by their position in `records`.
    let mut signed: Vec<(usize, Signed)> = Vec::new();
    let mut invalid: Vec<(usize, TrustError)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let index = i + 1;
        let refused = |detail: String| TrustError::BadSignature { index, detail };
        match verify_record(
            index,
            record,
            super::PLAN_NAMESPACE,
            digest,
            signers,
            Some(now),
        ) {
            Ok(s)
                if s.statement.signed_at + jiff::SignedDuration::from_mins(5) < body.created_at =>
            {
                invalid.push((
                    i,
                    refused(format!(
                        "it claims to be signed at {}, before the plan was made",
                        s.statement.signed_at
                    )),
                ));
            }
            Ok(s) if s.statement.role == Role::Applier => {
                invalid.push((
                    i,
                    refused("an applier signature has no place on a plan".into()),
                ));
            }
            Ok(s) => signed.push((i, s)),
            Err(e) => invalid.push((i, e)),
        }
    }
    let mut verdicts: Vec<Option<Verdict>> = (0..records.len()).map(|_| None).collect();
    for (i, e) in invalid {
        verdicts[i] = Some(Verdict::Invalid {
            code: miette::Diagnostic::code(&e)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            message: e.to_string(),
        });
        failure.get_or_insert(e);
    }
    let authors: Vec<usize> = signed
        .iter()
        .filter(|(_, s)| s.statement.role == Role::Author)
        .map(|(i, _)| *i)
        .collect();
    if authors.len() > 1 {
        for i in &authors {
            verdicts[*i] = Some(Verdict::Ignored(format!(
                "the plan has {} author signatures; it has one author",
                authors.len()
            )));
        }
        failure.get_or_insert(TrustError::MultipleAuthors {
            count: authors.len(),
        });
    } else if let Some(i) = authors.first() {
        standing.author = signed.iter().find(|(j, _)| j == i).map(|(_, s)| s.clone());
        verdicts[*i] = Some(Verdict::Author);
    }
    let author_failure = match &standing.author {
        None if policy.require_author_signature && authors.len() <= 1 => Some(TrustError::Unsigned),
        Some(a)
            if !policy.authors.is_empty() && !policy.authors.contains(&a.statement.principal) =>
        {
            Some(TrustError::AuthorNotAllowed {
                principal: a.statement.principal.clone(),
            })
        }
        _ => None,
    };
    if failure.is_none() {
        failure = author_failure;
    }
    let approvals: Vec<&(usize, Signed)> = signed
        .iter()
        .filter(|(_, s)| s.statement.role == Role::Approver)
        .collect();
    let (counted, ignored) = count_approvals(&mut standing, approvals.iter().copied(), policy);
    for i in counted {
        verdicts[i] = Some(Verdict::Counted);
    }
    for (i, why) in ignored {
        verdicts[i] = Some(Verdict::Ignored(why));
    }
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
    if let (None, true, Some(selection)) = (&failure, policy.refuse_partial, &body.selection)
        && !selection.targets.is_empty()
    {
        failure = Some(TrustError::PartialRefused {
            targets: selection
                .targets
                .iter()
                .map(|t| format!("`{}`", t.as_str().escape_debug()))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let (None, Some(required)) = (&failure, policy.policy_bundle) {
        let judged = body.policy.rego.as_ref().map(|r| r.digest);
        if judged != Some(required) {
            failure = Some(TrustError::PolicyBundle {
                required: required.to_string(),
                judged: judged.map_or_else(|| "no Rego bundle".to_owned(), |d| format!("`{d}`")),
            });
        }
    }
    if let (None, Some(allowed)) = (&failure, &policy.plugins_allowed) {
        let refused = body.scopes.iter().find_map(|scope| {
            let plugin = scope.plugin.as_ref()?;
            (!allowed.contains(&plugin.digest)).then(|| TrustError::PluginNotAllowed {
                plugin: plugin.name.clone(),
                digest: plugin.digest.to_string(),
                provider: scope.provider.clone(),
            })
        });
        failure = refused;
    }
    standing.signatures = records
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (record, verdict))| {
            let verdict = verdict.expect("invariant: every signature gets a verdict");
            SignatureVerdict::of(i + 1, record, verdict)
        })
        .collect();
    (standing, failure)
}

/// Sorts verified approvals into those that count and those that do not;
/// returns the positions of each.
fn count_approvals<'a>(
    standing: &mut Standing,
    approvals: impl Iterator<Item = &'a (usize, Signed)>,
    policy: &TrustPolicy,
) -> (Vec<usize>, Vec<(usize, String)>) {
    let mut principals = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let author = standing.author.clone();
    let mut approvals: Vec<&(usize, Signed)> = approvals.collect();
    approvals.sort_by_key(|(_, s)| s.statement.signed_at);
    let mut counted = Vec::new();
    let mut ignored = Vec::new();
    for (i, approval) in approvals {
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
            ignored.push((*i, why.to_owned()));
        } else {
            principals.insert(principal);
            keys.insert(key);
            standing.counted.push(approval.clone());
            counted.push(*i);
        }
    }
    (counted, ignored)
}

fn apply_rules(standing: &mut Standing, body: &PlanBody, policy: &TrustPolicy) {
    standing.required = policy.required;
    let mut why_required = format!("the policy requires {}", policy.required);
    for rule in policy.rules.iter().filter(|r| r.when.holds(body)) {
        if let Some(n) = rule.required.filter(|n| *n > standing.required) {
            standing.required = n;
            why_required = format!("{} require {n}", rule.when);
        }
        if !rule.require_one_of.is_empty()
            && !standing
                .counted
                .iter()
                .any(|s| rule.require_one_of.contains(&s.statement.principal))
        {
            standing.missing.push(format!(
                "{} need an approval from one of {}",
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
