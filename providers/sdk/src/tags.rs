//! An identity's tags (AWS) or labels (GCP), held as a sorted list of pairs:
//! planning holds hundreds of thousands of them on each side, and a B-tree map
//! allocates a leaf of over 500 bytes for a single entry. Tags serialise exactly
//! as the map they replace, so plan files, fingerprints and digests keep their
//! bytes.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tags (AWS) or labels (GCP): string keys to string values, sorted by key,
/// keys unique. Behaves as a `BTreeMap<String, String>`: inserting an existing
/// key replaces its value, and building from pairs keeps the last value of a key.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &String)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// From pairs in any order: sorted by key, the last value of a repeated key kept.
    fn from_pairs(mut pairs: Vec<(String, String)>) -> Self {
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: among equal keys the later pair stays later, and is kept.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(String, String)> = Vec::with_capacity(pairs.len());
            for pair in pairs {
                match kept.last_mut() {
                    Some(last) if last.0 == pair.0 => *last = pair,
                    _ => kept.push(pair),
                }
            }
            pairs = kept;
        }
        pairs.shrink_to_fit();
        Self(pairs)
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self::from_pairs(iter.into_iter().collect())
    }
}

impl<const N: usize> From<[(String, String); N]> for Tags {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, String>> for Tags {
    fn from(map: std::collections::BTreeMap<String, String>) -> Self {
        Self(map.into_iter().collect())
    }
}

impl IntoIterator for Tags {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Tags;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Tags, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = access.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Tags::from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

impl JsonSchema for Tags {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, String> as JsonSchema>::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        <std::collections::BTreeMap<String, String> as JsonSchema>::schema_id()
    }

    fn inline_schema() -> bool {
        <std::collections::BTreeMap<String, String> as JsonSchema>::inline_schema()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <std::collections::BTreeMap<String, String> as JsonSchema>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn map_ops() -> impl Strategy<Value = Vec<(bool, String, String)>> {
        prop::collection::vec(("[a-d]", "[a-c]{0,2}", any::<bool>()), 0..12).prop_map(|ops| {
            ops.into_iter()
                .map(|(k, v, insert)| (insert, k, v))
                .collect()
        })
    }

    proptest! {
        /// Tags behave as a `BTreeMap<String, String>` and serialise to its bytes.
        #[test]
        fn tags_are_a_sorted_map(ops in map_ops(), pairs in prop::collection::vec(("[a-d]", "[a-c]{0,2}"), 0..8)) {
            let mut tags: Tags = pairs.iter().cloned().collect();
            let mut map: BTreeMap<String, String> = pairs.into_iter().collect();
            for (insert, k, v) in ops {
                if insert {
                    prop_assert_eq!(tags.insert(k.clone(), v.clone()), map.insert(k.clone(), v));
                } else {
                    prop_assert_eq!(tags.remove(&k), map.remove(&k));
                }
                prop_assert_eq!(tags.get(&k), map.get(&k));
                prop_assert_eq!(tags.contains_key(&k), map.contains_key(&k));
            }
            prop_assert!(tags.iter().eq(map.iter()));
            prop_assert_eq!(tags.len(), map.len());
            let bytes = serde_json::to_string(&tags).unwrap();
            prop_assert_eq!(&bytes, &serde_json::to_string(&map).unwrap());
            prop_assert_eq!(serde_json::to_string_pretty(&tags).unwrap(), serde_json::to_string_pretty(&map).unwrap());
            prop_assert_eq!(serde_json::from_str::<Tags>(&bytes).unwrap(), tags.clone());
            prop_assert_eq!(Tags::from(map), tags);
        }
    }

    #[test]
    fn tags_read_from_json_keep_the_last_value_of_a_key() {
        let tags: Tags = serde_json::from_str(r#"{"b":"1","a":"2","b":"3"}"#).unwrap();
        assert_eq!(format!("{tags:?}"), r#"{"a": "2", "b": "3"}"#);
        assert!(serde_json::from_str::<Tags>(r#"{"a":1}"#).is_err());
        assert!(serde_json::from_str::<Tags>(r#"["a"]"#).is_err());
    }
}
