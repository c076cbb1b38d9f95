//! Addresses: the stable, human-readable names plans, diffs and errors use for
//! every object, e.g. `aws.prod/identity/ci-deployer/key/primary`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stable address of one object in one provider block.
///
/// Contract: `<type>.<provider>/identity/<name>` for identities, followed by
/// `/key/<key>` for keys (`/key/<key>#<id>` for an older key of the same name),
/// `/binding/<role>` (or `/binding/<role>@<resource>` when the binding has a
/// resource other than `*`) for bindings, and `/*` for everything an identity
/// holds. Each component is written as itself except that `%`, control
/// characters (C0, DEL, C1), bidirectional formatting characters, line and
/// paragraph separators, and the one separator that would end it (`/` in a name,
/// `#` in a key, `@` in a role) are percent-encoded byte by byte (`%2F`), so two
/// different objects never share an address and an address is safe to print.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
#[must_use]
pub struct Address(String);

impl Address {
    /// The provider prefix, `<type>.<name>`.
    pub fn provider(provider_type: &str, provider: &str) -> Self {
        Self(format!("{provider_type}.{provider}"))
    }

    /// An address from its text, e.g. a `<type>.<name>` prefix read from a plan.
    pub fn raw(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn identity(&self, name: &str) -> Self {
        let prefix = self.provider_prefix();
        let mut out = String::with_capacity(prefix.len() + 10 + name.len());
        out.push_str(prefix);
        out.push_str("/identity/");
        push_component(&mut out, name, '/');
        Self(out)
    }

    pub fn key(&self, key: &str) -> Self {
        let mut out = self.child("/key/", key.len());
        push_component(&mut out, key, '#');
        Self(out)
    }

    /// An older live key of a name another key also has: `key/<name>#<id>`.
    pub fn key_instance(&self, key: &str, id: &str) -> Self {
        let mut out = self.child("/key/", key.len() + 1 + id.len());
        push_component(&mut out, key, '#');
        out.push('#');
        push_component(&mut out, id, '#');
        Self(out)
    }

    pub fn binding(&self, role: &str, resource: &str) -> Self {
        let mut out = self.child("/binding/", role.len() + 1 + resource.len());
        push_component(&mut out, role, '@');
        if resource != "*" {
            out.push('@');
            // The first unescaped `@` ends the role, so the resource needs no
            // separator of its own escaped.
            push_component(&mut out, resource, '%');
        }
        Self(out)
    }

    /// Everything an identity holds (its keys and bindings), as one object: what
    /// a plan that deletes the identity fingerprints, so that anything added to
    /// it after planning makes the plan stale.
    pub fn holdings(&self) -> Self {
        Self(self.child("/*", 0))
    }

    fn child(&self, kind: &str, extra: usize) -> String {
        let mut out = String::with_capacity(self.0.len() + kind.len() + extra);
        out.push_str(&self.0);
        out.push_str(kind);
        out
    }

    /// The provider prefix, `<type>.<name>`, of any address.
    pub fn provider_prefix(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The identity address this address belongs to (itself for an identity).
    pub fn identity_of(&self) -> Self {
        let mut parts = self.0.splitn(4, '/');
        let prefix = parts.next().unwrap_or_default();
        let kind = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        Self(format!("{prefix}/{kind}/{name}"))
    }

    /// The name of the identity this address belongs to, decoded; `None` when the
    /// address names no identity or its escapes are not valid UTF-8.
    #[must_use]
    pub fn identity_name(&self) -> Option<String> {
        let mut parts = self.0.splitn(4, '/');
        parts.next()?;
        if parts.next()? != "identity" {
            return None;
        }
        decode(parts.next()?)
    }

    /// The key name of a key address (`…/key/<name>`, not an older instance
    /// `…/key/<name>#<id>`), decoded; `None` for any other address.
    #[must_use]
    pub fn key_name(&self) -> Option<String> {
        let mut parts = self.0.splitn(5, '/');
        parts.next()?;
        if parts.next()? != "identity" {
            return None;
        }
        parts.next()?;
        if parts.next()? != "key" {
            return None;
        }
        let key = parts.next()?;
        if key.contains('#') {
            return None;
        }
        decode(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends `part` with `%`, unsafe characters and `separator` percent-encoded.
fn push_component(out: &mut String, part: &str, separator: char) {
    let plain = |c: char| c != '%' && c != separator && !crate::text::is_unsafe_char(c);
    // Nearly every name needs no escape: one scan, then one copy.
    if part.chars().all(plain) {
        out.push_str(part);
        return;
    }
    for c in part.chars() {
        if plain(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The text of a component, its escapes undone.
fn decode(part: &str) -> Option<String> {
    if !part.contains('%') {
        return Some(part.to_owned());
    }
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = part.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_nest() {
        let p = Address::provider("local", "demo");
        let id = p.identity("ci");
        assert_eq!(id.as_str(), "local.demo/identity/ci");
        assert_eq!(
            id.key("primary").as_str(),
            "local.demo/identity/ci/key/primary"
        );
        assert_eq!(
            id.binding("viewer", "*").as_str(),
            "local.demo/identity/ci/binding/viewer"
        );
        assert_eq!(
            id.binding("viewer", "bucket/a").as_str(),
            "local.demo/identity/ci/binding/viewer@bucket/a"
        );
        assert_eq!(id.key("primary").identity_of(), id);
        assert_eq!(id.key("a/b#c").key_name().as_deref(), Some("a/b#c"));
        assert_eq!(id.key_instance("primary", "k1").key_name(), None);
        assert_eq!(id.binding("viewer", "*").key_name(), None);
        assert_eq!(id.key("primary").provider_prefix(), "local.demo");
    }

    #[test]
    fn binding_addresses_do_not_collide() {
        let id = Address::provider("local", "demo").identity("ci");
        let a = id.binding("x", "y@z");
        let b = id.binding("x@y", "z");
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "local.demo/identity/ci/binding/x@y@z");
        assert_eq!(b.as_str(), "local.demo/identity/ci/binding/x%40y@z");
        // A role that reads like an escape is escaped itself.
        assert_ne!(id.binding("x%40y", "z"), b);
        assert_eq!(
            id.binding("roles/viewer", "projects/p").as_str(),
            "local.demo/identity/ci/binding/roles/viewer@projects/p"
        );
    }

    #[test]
    fn components_are_escaped_only_where_needed() {
        let p = Address::provider("local", "demo");
        let odd = p.identity("a/b%c\u{1b}[8m");
        assert_eq!(odd.as_str(), "local.demo/identity/a%2Fb%25c%1B[8m");
        assert_eq!(odd.identity_name().as_deref(), Some("a/b%c\u{1b}[8m"));
        assert_eq!(odd.key("k").identity_of(), odd);
        assert_eq!(
            p.identity("ci").key_instance("a#1", "2").as_str(),
            "local.demo/identity/ci/key/a%231#2"
        );
        assert_ne!(
            p.identity("ci").key("a#1"),
            p.identity("ci").key_instance("a", "1")
        );
        assert_eq!(
            p.identity("ci").holdings().as_str(),
            "local.demo/identity/ci/*"
        );
        assert_eq!(
            p.identity("ci").holdings().identity_name().as_deref(),
            Some("ci")
        );
        assert_eq!(
            p.identity("bidi\u{202e}").as_str(),
            "local.demo/identity/bidi%E2%80%AE"
        );
        assert_eq!(
            Address::raw("local.demo/identity/%ZZ").identity_name(),
            None
        );
    }
}
