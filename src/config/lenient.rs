//! Every type error of a file in one run: the typed parse stops at the first, so
//! when it fails the file is parsed again, each time leaving out the field of the
//! entry (provider block, identity, key, binding, exception) that failed, until it
//! parses. The entries that lost a field are then validated without it, and the
//! problems that only say it is missing are dropped.
//!
//! The lists of entries are read through [`providers`] and its siblings; outside
//! [`collect`] they read the list as serde would, at no cost.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// Where an entry is: the list and index of it and of each entry holding it.
type Path = Vec<(&'static str, usize)>;

/// A field of an entry left out; the empty field leaves out the whole entry.
type Skip = (Path, String);

/// What a parse that leaves out fields found and needs, on this thread.
#[derive(Default)]
struct State {
    collecting: bool,
    /// The fields left out of each entry.
    skips: HashMap<Path, Vec<String>>,
    /// The entries being read, innermost last, with the field being read.
    path: Path,
    fields: Vec<Option<String>>,
    /// The field whose value stopped the parse, recorded by the innermost entry.
    failure: Option<Skip>,
    /// The list and start of each entry that lost a field or was left out.
    partial: Vec<(&'static str, Location)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// What [`collect`] found: the parse that succeeded, if one did, the error of
/// every attempt, and where the entries that lost a field start.
pub(super) struct Collected<T, E> {
    pub value: Option<T>,
    pub errors: Vec<E>,
    pub partial: Vec<(&'static str, Location)>,
}

/// Run `parse` until it succeeds, leaving out what failed each time, at most
/// `limit` times; stop early when an error is in no entry (the file's shape) or
/// is not about a value (`about_a_value`: the YAML itself is broken there).
pub(super) fn collect<T, E>(
    limit: usize,
    about_a_value: impl Fn(&E) -> bool,
    mut parse: impl FnMut() -> Result<T, E>,
) -> Collected<T, E> {
    STATE.with_borrow_mut(|state| {
        *state = State {
            collecting: true,
            ..State::default()
        };
    });
    let mut errors = Vec::new();
    let mut value = None;
    while errors.len() < limit {
        STATE.with_borrow_mut(|state| {
            state.path.clear();
            state.fields.clear();
            state.failure = None;
            state.partial.clear();
        });
        match parse() {
            Ok(parsed) => {
                value = Some(parsed);
                break;
            }
            Err(err) => {
                let again = about_a_value(&err);
                errors.push(err);
                let fresh = STATE.with_borrow_mut(|state| match state.failure.take() {
                    Some((path, field)) if again => {
                        let fields = state.skips.entry(path).or_default();
                        let fresh = !fields.contains(&field);
                        fields.push(field);
                        fresh
                    }
                    _ => false,
                });
                if !fresh {
                    break;
                }
            }
        }
    }
    let partial = STATE.with_borrow_mut(|state| std::mem::take(state).partial);
    Collected {
        value,
        errors,
        partial,
    }
}

macro_rules! lists {
    ($($name:ident),*) => {$(
        /// Read this list of entries, leaving out what failed while collecting.
        pub(super) fn $name<'de, D, T>(deserializer: D) -> Result<Vec<Spanned<T>>, D::Error>
        where
            D: Deserializer<'de>,
            T: Deserialize<'de>,
        {
            entries(stringify!($name), deserializer)
        }
    )*};
}

lists!(providers, identities, keys, bindings, exceptions);

fn entries<'de, D, T>(list: &'static str, deserializer: D) -> Result<Vec<Spanned<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    if !STATE.with_borrow(|state| state.collecting) {
        return Vec::deserialize(deserializer);
    }
    deserializer.deserialize_seq(Entries(list, PhantomData))
}

struct Entries<T>(&'static str, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
    type Value = Vec<Spanned<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        for index in 0.. {
            let whole = STATE.with_borrow_mut(|state| {
                state.path.push((self.0, index));
                state.fields.push(None);
                state
                    .skips
                    .get(&state.path)
                    .is_some_and(|fields| fields.iter().any(String::is_empty))
            });
            let read = if whole {
                seq.next_element::<de::IgnoredAny>()
                    .map(|e| e.map(|_| None))
            } else {
                seq.next_element::<Spanned<Entry<T>>>().map(|e| e.map(Some))
            };
            let done = STATE.with_borrow_mut(|state| {
                let field = state.fields.pop().flatten();
                if read.is_err() && state.failure.is_none() {
                    state.failure = Some((state.path.clone(), field.unwrap_or_default()));
                }
                if whole && matches!(read, Ok(Some(_))) {
                    state.partial.push((self.0, Location::UNKNOWN));
                }
                if let Ok(Some(Some(entry))) = &read
                    && entry.value.skipped
                {
                    state.partial.push((self.0, entry.referenced));
                }
                state.path.pop();
                matches!(read, Ok(None))
            });
            if done {
                break;
            }
            if let Some(Some(entry)) = read? {
                out.push(Spanned::new(
                    entry.value.value,
                    entry.referenced,
                    entry.defined,
                ));
            }
        }
        Ok(out)
    }
}

/// An entry read with the fields left out that failed before.
struct Entry<T> {
    value: T,
    skipped: bool,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entry<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let skips: Vec<String> =
            STATE.with_borrow(|state| state.skips.get(&state.path).cloned().unwrap_or_default());
        let skipped = !skips.is_empty();
        let value = T::deserialize(Fields {
            inner: deserializer,
            skips,
        })?;
        Ok(Self { value, skipped })
    }
}

/// A deserializer of an entry's mapping that leaves out `skips` and notes the
/// field being read.
struct Fields<D> {
    inner: D,
    skips: Vec<String>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Fields<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = FieldsVisitor {
            inner: visitor,
            skips: self.skips,
        };
        self.inner.deserialize_struct(name, fields, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

struct FieldsVisitor<V> {
    inner: V,
    skips: Vec<String>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for FieldsVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(FieldsMap {
            inner: map,
            skips: self.skips,
        })
    }
}

struct FieldsMap<A> {
    inner: A,
    skips: Vec<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FieldsMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            // A key that cannot be read fails the whole entry, not the field before.
            note_field(None);
            let Some(key) = self.inner.next_key::<String>()? else {
                return Ok(None);
            };
            if self.skips.contains(&key) {
                self.inner.next_value::<de::IgnoredAny>()?;
                continue;
            }
            note_field(Some(key.clone()));
            let key: de::value::StringDeserializer<A::Error> =
                de::IntoDeserializer::into_deserializer(key);
            return seed.deserialize(key).map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// Note the field of the innermost entry being read.
fn note_field(key: Option<String>) {
    STATE.with_borrow_mut(|state| {
        if let Some(field) = state.fields.last_mut() {
            *field = key;
        }
    });
}
