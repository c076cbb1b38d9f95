//! The trust rules as pure functions: [`judge_plan`] and [`check_time`] with
//! ed25519 keys made in memory, so every rule is tested without `ssh-keygen` or
//! the binary. Each case asserts what a user sees: the counted and ignored
//! approvals `nhi verify` lists, and the exact code and message of the refusal.

//!
//! The shared fixtures live here; the cases, one file per rule, beside it.

mod agreement;
mod approvals;
mod author;
mod expiry;
mod rules;
mod signatures;

use std::fmt::Write as _;

use miette::Diagnostic as _;
use nhi_provider_sdk::{Address, Binding, Digest, Identity, Operation, Sink, Tags};
use ssh_key::{Algorithm, PrivateKey};

use super::{
    AllowedSigners, PLAN_NAMESPACE, Role, Signer, TrustError, TrustPolicy, judge_plan, sign,
};
use crate::diff::{Action, Change, Reason, Risk};
use crate::plan::{BODY_FORMAT_VERSION, ConfigRecord, PlanBody, SignatureRecord, Summary};

/// The applier's clock.
fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn mins(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(n)
}

/// The plan was made an hour ago.
fn created() -> jiff::Timestamp {
    now() - mins(60)
}

/// The digest every signature is meant for.
fn digest() -> Digest {
    Digest::of(b"the plan body")
}

/// The keys of the team; `bob2` is bob's second key, `mallory` is in no
/// allowed signers file.
struct Team {
    alice: Signer,
    bob: Signer,
    bob2: Signer,
    carol: Signer,
    security: Signer,
    mallory: Signer,
}

fn generate() -> Signer {
    let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).unwrap();
    Signer::File(Box::new(key))
}

impl Team {
    fn new() -> Self {
        Self {
            alice: generate(),
            bob: generate(),
            bob2: generate(),
            carol: generate(),
            security: generate(),
            mallory: generate(),
        }
    }

    fn key(&self, who: &str) -> &Signer {
        match who {
            "alice" => &self.alice,
            "bob" => &self.bob,
            "bob2" => &self.bob2,
            "carol" => &self.carol,
            "security" => &self.security,
            "mallory" => &self.mallory,
            other => panic!("no key `{other}`"),
        }
    }

    /// `SHA256:…` of a key, as messages show it.
    fn fingerprint(&self, who: &str) -> String {
        self.key(who)
            .public_key()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// An allowed signers file with one line per `(principals, options, key)`.
    fn signers(&self, lines: &[(&str, &str, &str)]) -> AllowedSigners {
        let mut text = String::new();
        for (principals, options, who) in lines {
            let key = self.key(who).public_key().to_openssh().unwrap();
            writeln!(text, "{principals} {options} {key}").unwrap();
        }
        AllowedSigners::parse(&text).unwrap()
    }

    /// Everyone but mallory, under their own principal; bob with both his keys.
    fn everyone(&self) -> AllowedSigners {
        self.signers(&[
            ("alice@example.com", "", "alice"),
            ("bob@example.com", "", "bob"),
            ("bob@example.com", "", "bob2"),
            ("carol@example.com", "", "carol"),
            ("security@example.com", "", "security"),
        ])
    }

    /// What `sig` describes, signed for `digest` in `namespace`.
    fn record(&self, sig: &Sig, namespace: &str, digest: Digest) -> SignatureRecord {
        sign(
            self.key(sig.key),
            namespace,
            sig.role,
            sig.principal,
            digest,
            created() + mins(sig.minutes),
            sig.comment,
        )
        .unwrap()
    }

    fn records(&self, sigs: &[Sig]) -> Vec<SignatureRecord> {
        sigs.iter()
            .map(|s| self.record(s, PLAN_NAMESPACE, digest()))
            .collect()
    }
}

/// One signature: whose key, in which role, claiming which principal, made how
/// many minutes after the plan.
#[derive(Clone, Copy)]
struct Sig {
    key: &'static str,
    role: Role,
    principal: &'static str,
    minutes: i64,
    comment: Option<&'static str>,
}

fn author(key: &'static str, principal: &'static str) -> Sig {
    Sig {
        key,
        role: Role::Author,
        principal,
        minutes: 0,
        comment: None,
    }
}

fn approval(key: &'static str, principal: &'static str, minutes: i64) -> Sig {
    Sig {
        key,
        role: Role::Approver,
        principal,
        minutes,
        comment: None,
    }
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const SECURITY: &str = "security@example.com";

/// One change of each given risk class.
fn body(risks: &[Risk]) -> PlanBody {
    let identity = Identity {
        name: "ci".into(),
        kind: "service_account".into(),
        owner: "team@example.com".into(),
        description: String::new(),
        tags: Tags::new(),
        attributes: std::collections::BTreeMap::new(),
    };
    let address = Address::provider("local", "demo").identity("ci");
    let changes: Vec<Change> = risks
        .iter()
        .map(|risk| {
            let (operation, sink) = match risk {
                Risk::Low => (
                    Operation::CreateIdentity {
                        identity: identity.clone(),
                    },
                    None,
                ),
                Risk::PrivilegeReducing => (
                    Operation::DeleteBinding {
                        identity: "ci".into(),
                        binding: Binding {
                            role: "admin".into(),
                            resource: "*".into(),
                            policy: None,
                        },
                    },
                    None,
                ),
                Risk::Credential => (
                    Operation::CreateKey {
                        identity: "ci".into(),
                        key: "primary".into(),
                    },
                    Some(Sink::Stdout),
                ),
                Risk::PrivilegeIncreasing => (
                    Operation::CreateBinding {
                        identity: "ci".into(),
                        binding: Binding {
                            role: "viewer".into(),
                            resource: "*".into(),
                            policy: None,
                        },
                    },
                    None,
                ),
                Risk::Destructive => (
                    Operation::DeleteIdentity {
                        identity: identity.clone(),
                    },
                    None,
                ),
            };
            assert_eq!(Risk::of(&operation), *risk);
            Change {
                address: address.clone(),
                action: Action::of(&operation),
                reason: Reason::New,
                risk: *risk,
                detail: None,
                operation,
                sink,
            }
        })
        .collect();
    PlanBody {
        format_version: BODY_FORMAT_VERSION,
        tool_version: "0.0.0".into(),
        created_at: created(),
        expires_at: created() + mins(24 * 60),
        author: ALICE.into(),
        config: ConfigRecord {
            path: "nhi.yaml".into(),
            dir: "/work".into(),
            digest: Digest::of(b"version: 1\n"),
        },
        scopes: Vec::new(),
        summary: Summary::of(&changes, 0),
        changes,
        touched: Vec::new(),
        unmanaged: Vec::new(),
        policy: crate::policy::PolicyRecord::default(),
        findings: Vec::new(),
        selection: None,
    }
}

/// The policy of most cases: an author signature and one approval.
fn policy() -> TrustPolicy {
    TrustPolicy {
        path: "trust.yaml".into(),
        allowed_signers: "allowed_signers".into(),
        require_author_signature: true,
        authors: Vec::new(),
        required: 1,
        author_counts: false,
        max_plan_age: None,
        rules: Vec::new(),
        receipt_log: None,
        policy_bundle: None,
        refuse_partial: false,
        plugins_allowed: None,
        revoke: None,
    }
}

/// `nhi::…` code and message of a refusal, as the user reads them.
fn shown(err: &TrustError) -> (String, String) {
    let code = err.code().map(|c| c.to_string()).unwrap_or_default();
    (code, err.to_string())
}

/// A refusal's code and message as the user reads them; `None`: the plan passes.
type Refusal = Option<(String, String)>;

/// What `nhi verify` reports of a judged plan.
#[derive(Debug, PartialEq)]
struct Judged {
    author: Option<String>,
    counted: Vec<String>,
    ignored: Vec<(String, String)>,
    required: usize,
    failure: Refusal,
}

fn judge(
    body: &PlanBody,
    records: &[SignatureRecord],
    policy: &TrustPolicy,
    signers: &AllowedSigners,
) -> Judged {
    let (standing, failure) = judge_plan(body, &digest(), records, policy, signers, now());
    Judged {
        author: standing.author.map(|a| a.statement.principal),
        counted: standing
            .counted
            .into_iter()
            .map(|s| s.statement.principal)
            .collect(),
        ignored: standing
            .ignored
            .into_iter()
            .map(|(s, why)| (s.statement.principal, why))
            .collect(),
        required: standing.required,
        failure: failure.as_ref().map(shown),
    }
}

fn insufficient(have: usize, need: usize, detail: &str) -> (String, String) {
    (
        "nhi::trust::insufficient_approvals".into(),
        format!(
            "the plan's approvals do not meet the trust policy ({have} counted, {need} required): {detail}"
        ),
    )
}
