//! Ages such as `90d`: how old a key may grow before it is rotated.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A length of time written as a whole number and a unit: `s`, `m`, `h`, `d` or `w`
/// (`90d`, `12h`, `2w`).
///
/// Contract: serialised as the text the user wrote, normalised to the same number
/// and unit; always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Age {
    amount: u32,
    unit: char,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgeError {
    #[error("`{0}` is not a duration")]
    Invalid(String),
    #[error("a duration must be greater than zero")]
    Zero,
}

impl Age {
    pub fn seconds(self) -> i64 {
        let unit = match self.unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => 7 * 86_400,
        };
        i64::from(self.amount) * unit
    }

    pub fn as_duration(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.seconds())
    }
}

impl FromStr for Age {
    type Err = AgeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || AgeError::Invalid(text.to_owned());
        let unit = text.chars().last().ok_or_else(invalid)?;
        if !matches!(unit, 's' | 'm' | 'h' | 'd' | 'w') {
            return Err(invalid());
        }
        let digits = &text[..text.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        // Ten years in seconds fits easily; cap the number so `seconds` cannot overflow.
        let amount: u32 = digits.parse().map_err(|_| invalid())?;
        if amount == 0 {
            return Err(AgeError::Zero);
        }
        if amount > 1_000_000 {
            return Err(invalid());
        }
        Ok(Self { amount, unit })
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

impl Serialize for Age {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Age {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Age".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+[smhdw]$",
            "description": "A whole number and a unit: s, m, h, d or w (e.g. `90d`)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let cases: &[(&str, Result<i64, ()>)] = &[
            ("90d", Ok(90 * 86_400)),
            ("12h", Ok(12 * 3_600)),
            ("2w", Ok(14 * 86_400)),
            ("30s", Ok(30)),
            ("5m", Ok(300)),
            ("0d", Err(())),
            ("d", Err(())),
            ("90", Err(())),
            ("-1d", Err(())),
            ("1.5d", Err(())),
            ("9999999999d", Err(())),
            ("", Err(())),
            ("90 d", Err(())),
            ("é", Err(())),
        ];
        for (text, want) in cases {
            let got = text.parse::<Age>().map(Age::seconds).map_err(|_| ());
            assert_eq!(&got, want, "{text}");
        }
        assert_eq!("90d".parse::<Age>().unwrap().to_string(), "90d");
    }
}
