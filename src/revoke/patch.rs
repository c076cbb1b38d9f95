//! `nhi revoke --emit-patch`: the configuration change that makes a revocation
//! permanent, for the follow-up merge request. Until it lands, plans are
//! refused by [`super::sticky`].

use std::fmt::Write as _;

use super::record::{RevocationBody, Target};

/// The change to the configuration, as YAML comments and fragments a reviewer
/// applies by hand: which key entry to remove, which identity to disable, which
/// binding to remove.
pub fn patch(body: &RevocationBody, config: &str) -> String {
    let mut out = format!(
        "# Follow-up for the revocation at {} by {}: {}\n# In `{config}`:\n",
        body.revoked_at, body.actor, body.reason
    );
    for object in &body.objects {
        let line = match &object.target {
            Target::Key {
                identity,
                name: Some(name),
                ..
            } => format!(
                "# identity `{identity}`: remove the key entry\n#   keys:\n-    {name}: …\n"
            ),
            Target::Key { identity, id, .. } => format!(
                "# identity `{identity}`: key `{id}` was not nhi's; nothing to remove, the next apply deletes it\n"
            ),
            Target::Identity { identity } => format!(
                "# identity `{identity}`: disable it and remove its keys\n   {identity}:\n+    disabled: true\n-    keys: …\n"
            ),
            Target::Binding {
                identity,
                role,
                resource,
            } => format!(
                "# identity `{identity}`: remove the binding\n-    - {{role: {role}, resource: {resource}}}\n"
            ),
        };
        let _ = write!(out, "{line}");
        if object.actions.iter().any(|a| a == "revoke_sessions") {
            let _ = write!(
                out,
                "# identity `{identity}`: keep the session deny that plans may not drop\n\
                 +    bindings:\n\
                 +      - role: {role}\n\
                 +        policy:\n\
                 +          Version: \"2012-10-17\"\n\
                 +          Statement:\n\
                 +            - {{Effect: Deny, Action: \"*\", Resource: \"*\",\n\
                 +               Condition: {{DateLessThan: {{\"aws:TokenIssueTime\": \"{at}\"}}}}}}\n",
                identity = object.target.identity(),
                role = super::sticky::SESSION_DENY_ROLE,
                at = body.revoked_at,
            );
        }
    }
    out
}
