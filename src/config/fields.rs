//! Every unknown field of a file in one run: the typed parse stops at the first
//! (`deny_unknown_fields`), so when it fails the text is read again as a plain tree
//! of keys with their locations, and each mapping's keys are checked against the
//! fields serde knows for the raw type at that place.

use std::cell::Cell;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Location, Spanned};

use super::error::{Problem, ProblemKind, Source, did_you_mean, list, quote};
use super::raw::{
    RawBinding, RawConfig, RawException, RawIdentity, RawKey, RawPolicy, RawProvider,
};

/// The unknown fields of `text`, in file order; empty when there are none or when
/// the text is not YAML the typed parse could have read (its own error says why).
pub(super) fn unknown_fields(source: &Source<'_>, text: &str) -> Vec<Problem> {
    let mut options = super::yaml::options();
    // A repeated key is the typed parse's error to report; keep looking past it.
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    let Ok(tree) = serde_saphyr::from_str_with_options::<Node>(text, options) else {
        return Vec::new();
    };
    let place = |fields, nested| Place { fields, nested };
    let identity = place(
        fields_of::<RawIdentity>(),
        vec![
            ("keys", place(fields_of::<RawKey>(), Vec::new())),
            ("bindings", place(fields_of::<RawBinding>(), Vec::new())),
        ],
    );
    let top = place(
        fields_of::<RawConfig>(),
        vec![
            ("providers", place(fields_of::<RawProvider>(), Vec::new())),
            ("identities", identity),
            (
                "policy",
                place(
                    fields_of::<RawPolicy>(),
                    vec![("exceptions", place(fields_of::<RawException>(), Vec::new()))],
                ),
            ),
        ],
    );
    let mut found = Vec::new();
    check(&tree, &top, &mut found);
    found.sort_by_key(|(location, _, _)| (location.line(), location.column()));
    found
        .into_iter()
        .map(|(location, field, expected)| unknown_field(source, &location, &field, expected))
        .collect()
}

/// What to write instead of `field` where `expected` are the fields: the closest
/// one, or all of them. The typed parse's first unknown field says the same.
pub(super) fn unknown_field_help(field: &str, expected: &[&str]) -> String {
    match did_you_mean(field, expected.iter().copied()) {
        Some(close) => format!("did you mean {}?", quote(close)),
        None => format!("fields here: {}", list(expected.iter().copied())),
    }
}

/// The problem for `field`, unknown at `location`, where `expected` are the fields.
fn unknown_field(
    source: &Source<'_>,
    location: &Location,
    field: &str,
    expected: &[&str],
) -> Problem {
    let help = unknown_field_help(field, expected);
    source
        .problem(
            ProblemKind::UnknownField,
            format!("unknown field {}", quote(field)),
        )
        .label(source.span(location), "not a field here")
        .with_help(help)
}

/// A place in the file holding a raw type: its fields, and the fields holding
/// lists of further raw types.
struct Place {
    fields: &'static [&'static str],
    nested: Vec<(&'static str, Place)>,
}

fn check(node: &Node, place: &Place, found: &mut Vec<(Location, String, &'static [&'static str])>) {
    let Node::Map(entries) = node else {
        return;
    };
    for (key, value) in entries {
        let Some(name) = &key.value.0 else {
            continue;
        };
        if !place.fields.contains(&name.as_str()) {
            found.push((key.referenced, name.clone(), place.fields));
            continue;
        }
        let Some((_, inner)) = place.nested.iter().find(|(field, _)| field == name) else {
            continue;
        };
        match value {
            Node::Seq(items) => {
                for item in items {
                    check(item, inner, found);
                }
            }
            Node::Map(_) => check(value, inner, found),
            Node::Scalar => {}
        }
    }
}

/// YAML as a tree of mappings and lists; keys keep their text and location.
enum Node {
    Map(Vec<(Spanned<Key>, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

/// A mapping key: its text when it is a string.
struct Key(Option<String>);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<Key>, Node>()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        // A tagged value (`!tag x`): its content is no field of nhi's.
        let (Key(_), variant) = data.variant::<Key>()?;
        de::VariantAccess::newtype_variant::<Node>(variant)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping key")
            }

            fn visit_str<E>(self, text: &str) -> Result<Key, E> {
                Ok(Key(Some(text.to_owned())))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_i64<E>(self, _: i64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_u64<E>(self, _: u64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key(None))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Key, A::Error> {
                de::IgnoredAny::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Key(None))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Key, A::Error> {
                de::IgnoredAny::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Key(None))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// The field names serde accepts for struct `T`, as its derived `Deserialize`
/// passes them to `deserialize_struct`.
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let fields = Cell::new(None);
    let _ = T::deserialize(FieldNames(&fields));
    fields
        .get()
        .expect("invariant: raw types derive `Deserialize` for a struct")
}

/// A deserializer that only records the fields a struct asks for.
struct FieldNames<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only records field names"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some(fields));
        Err(de::Error::custom("only records field names"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_serdes() {
        assert_eq!(
            fields_of::<RawKey>(),
            [
                "name",
                "adopt",
                "rotate_after",
                "retire_after",
                "status",
                "expires",
                "sink"
            ]
        );
        assert!(fields_of::<RawProvider>().contains(&"type"));
    }
}
