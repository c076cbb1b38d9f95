//! Identifiers: which role, schema, table and database names nhi accepts, how they
//! are written in a binding's resource (plain, or double-quoted as SQL does), and
//! how they are quoted into SQL text where PostgreSQL takes no parameter (DDL).

/// PostgreSQL's identifier length limit (`NAMEDATALEN - 1`); longer names are
/// silently truncated by the server, so two declared names could meet as one.
pub(crate) const MAX_IDENT_BYTES: usize = 63;

/// Quotes `ident` as a SQL identifier: `"` doubled, the whole in `"`. Refuses
/// what no identifier may hold (NUL) and names the server would truncate.
pub(crate) fn quote_ident(ident: &str) -> Result<String, String> {
    check_ident_text(ident)?;
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for c in ident.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// Quotes `text` as a SQL string literal for a session with
/// `standard_conforming_strings = on` (set on every connection): `'` doubled, no
/// backslash escapes. Refuses NUL, which no PostgreSQL text holds.
pub(crate) fn quote_literal(text: &str) -> Result<String, String> {
    if text.contains('\0') {
        return Err("text holds a NUL character".to_owned());
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// What any identifier must be: 1 to 63 bytes, no NUL, nothing that could steer
/// a terminal when shown to a reviewer.
fn check_ident_text(ident: &str) -> Result<(), String> {
    if ident.is_empty() || ident.len() > MAX_IDENT_BYTES {
        return Err(format!(
            "a PostgreSQL name is 1 to {MAX_IDENT_BYTES} bytes, not {}",
            ident.len()
        ));
    }
    if ident.contains('\0') || nhi_provider_sdk::text::first_unsafe(ident).is_some() {
        return Err("a PostgreSQL name holds no control or bidirectional characters".to_owned());
    }
    Ok(())
}

/// Whether `ident` is written as itself in a resource: ASCII letters, digits, `_`,
/// `$` and `-`, not starting with a digit, `$` or `-`.
fn is_plain(ident: &str) -> bool {
    let bytes = ident.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_$-".contains(b))
}

/// The name of a login role nhi manages: lowercase ASCII letters, digits, `_` and
/// `-`, starting with a letter or `_`, at most 63 bytes, never `pg_…` (reserved
/// for built-in roles).
pub(crate) fn check_role_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let valid = (1..=MAX_IDENT_BYTES).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(b));
    if !valid {
        return Err(format!(
            "must be 1 to {MAX_IDENT_BYTES} characters: lowercase letters, digits, `_` and `-`, \
             starting with a letter or `_`"
        ));
    }
    if name.starts_with("pg_") {
        return Err("names starting with `pg_` are reserved for PostgreSQL's own roles".to_owned());
    }
    Ok(())
}

/// Writes `ident` as a resource part: itself when plain, else double-quoted with
/// `"` doubled, so that every name reads back as the same name.
pub(crate) fn write_part(out: &mut String, ident: &str) {
    if is_plain(ident) {
        out.push_str(ident);
    } else {
        out.push('"');
        out.push_str(&ident.replace('"', "\"\""));
        out.push('"');
    }
}

/// Reads the dot-separated identifiers of a resource written by [`write_part`]
/// (or by hand the same way).
pub(crate) fn parse_parts(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let (part, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut part = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(format!("`{text}` has an unclosed `\"`")),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            part.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => part.push(c),
                }
            };
            (part, &quoted[end..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let part = &rest[..end];
            if !is_plain(part) {
                return Err(format!(
                    "`{part}` is not a plain name (letters, digits, `_`, `$`, `-`): \
                     write it in double quotes"
                ));
            }
            (part.to_owned(), &rest[end..])
        };
        check_ident_text(&part)?;
        parts.push(part);
        if after.is_empty() {
            return Ok(parts);
        }
        let Some(next) = after.strip_prefix('.') else {
            return Err(format!("`{text}`: expected `.` after a quoted name"));
        };
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("app_ci").unwrap(), r#""app_ci""#);
        assert_eq!(
            quote_ident(r#"a"; DROP ROLE x; --"#).unwrap(),
            r#""a""; DROP ROLE x; --""#
        );
        assert!(quote_ident("").is_err());
        assert!(quote_ident("a\0b").is_err());
        assert!(quote_ident(&"a".repeat(64)).is_err());
        assert!(quote_ident("a\u{202e}b").is_err());
        assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
        assert_eq!(quote_literal(r"a\'b").unwrap(), r"'a\''b'");
        assert!(quote_literal("a\0").is_err());
    }

    #[test]
    fn role_names() {
        for (name, ok) in [
            ("app_ci", true),
            ("_x", true),
            ("app-ci-2", true),
            ("App", false),
            ("1app", false),
            ("", false),
            ("pg_monitor", false),
            ("a b", false),
            ("a\"b", false),
            (&*"a".repeat(63), true),
            (&*"a".repeat(64), false),
        ] {
            assert_eq!(check_role_name(name).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn resource_parts_read_back_as_written() {
        for parts in [
            vec!["app", "orders"],
            vec!["we.ird", "t"],
            vec!["My Schema", "a\"b"],
            vec!["public"],
            vec!["1x"],
        ] {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                write_part(&mut text, part);
            }
            assert_eq!(parse_parts(&text).unwrap(), parts, "{text}");
        }
        assert_eq!(
            parse_parts(r#""we.ird".t"#).unwrap(),
            vec!["we.ird".to_owned(), "t".to_owned()]
        );
        for bad in ["", "a..b", "a b", r#""open"#, r#""a"b"#, "a.", "\"\""] {
            assert!(parse_parts(bad).is_err(), "{bad}");
        }
    }
}
