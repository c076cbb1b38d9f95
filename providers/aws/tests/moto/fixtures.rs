//! What the tests apply: identities, bindings and policies, the operations that
//! build a small estate, and an identity as a read reports it.

use std::collections::BTreeMap;

use nhi_provider_aws::normalize_policy;
use nhi_provider_sdk::{Binding, Identity, Operation, Tags};
use serde_json::{Value, json};

pub(crate) const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
pub(crate) const VIEW_ONLY: &str = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess";

pub(crate) fn user(name: &str, owner: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "user".into(),
        owner: owner.into(),
        description: format!("{name} service account"),
        tags: Tags::from([("env".to_owned(), "test".to_owned())]),
        attributes: BTreeMap::new(),
    }
}

pub(crate) fn trust() -> Value {
    // One statement as an object, one-element lists: not the canonical form.
    json!({
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"Service": ["ec2.amazonaws.com"]},
            "Action": ["sts:AssumeRole"]
        }
    })
}

pub(crate) fn role(name: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "role".into(),
        owner: "platform".into(),
        description: "assumed by CI".into(),
        tags: Tags::new(),
        attributes: BTreeMap::from([
            ("trust_policy".to_owned(), trust()),
            ("permissions_boundary".to_owned(), json!(READ_ONLY)),
        ]),
    }
}

pub(crate) fn managed(arn: &str) -> Binding {
    Binding {
        role: arn.into(),
        resource: "*".into(),
        policy: None,
    }
}

pub(crate) fn inline(name: &str, policy: Value) -> Binding {
    Binding {
        role: format!("inline:{name}"),
        resource: "*".into(),
        policy: Some(policy.into()),
    }
}

pub(crate) fn s3_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/*"}]
    })
}

/// The identity as a read reports it: the trust policy in canonical form.
pub(crate) fn as_read(mut identity: Identity) -> Identity {
    if let Some(trust) = identity.attributes.remove("trust_policy") {
        identity
            .attributes
            .insert("trust_policy".into(), normalize_policy(trust));
    }
    identity
}

pub(crate) fn estate_ops() -> Vec<Operation> {
    let (u, r) = ("create-ci", "create-deployer");
    vec![
        Operation::CreateIdentity {
            identity: user(u, "team-a"),
        },
        Operation::CreateIdentity { identity: role(r) },
        Operation::CreateBinding {
            identity: u.into(),
            binding: managed(READ_ONLY),
        },
        Operation::CreateBinding {
            identity: u.into(),
            binding: inline("s3", s3_policy()),
        },
        Operation::CreateBinding {
            identity: r.into(),
            binding: managed(VIEW_ONLY),
        },
        Operation::CreateBinding {
            identity: r.into(),
            binding: inline("s3", s3_policy()),
        },
    ]
}
