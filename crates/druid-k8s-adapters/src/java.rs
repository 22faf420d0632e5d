//! Java-compatible string helpers: the task-context `javaOpts` splitter and `escapeJava`.

use std::fmt::Write as _;

/// Guava's `CharMatcher.breakingWhitespace()`: Unicode whitespace except the no-break spaces.
fn is_breaking_whitespace(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{00a0}' | '\u{2007}' | '\u{202f}')
}

/// Splits a command-line string on whitespace outside double quotes, keeping the quotes in the
/// tokens and dropping empty tokens (Druid's `QuotableWhiteSpaceSplitter`, used for the task
/// context key `druid.indexer.runner.javaOpts`).
///
/// ```
/// use druid_k8s_adapters::java::split_quotable;
/// assert_eq!(
///     split_quotable(r#"-Xmx2g  -Dname="a b" -Dx=1"#),
///     vec!["-Xmx2g", r#"-Dname="a b""#, "-Dx=1"]
/// );
/// ```
pub fn split_quotable(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in s.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && is_breaking_whitespace(c) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Escapes a string like Apache Commons Text `StringEscapeUtils.escapeJava`: `"` and `\` get a
/// backslash, `\b \t \n \f \r` their short escapes, other characters below U+0020 and every
/// character above U+007E become `\uXXXX` (uppercase hex, UTF-16 code units, so characters
/// outside the BMP become a surrogate pair). `/` and `'` are left alone.
///
/// ```
/// use druid_k8s_adapters::java::escape_java;
/// assert_eq!(escape_java("say \"hi\"\n"), r#"say \"hi\"\n"#);
/// assert_eq!(escape_java("é😀"), r"\u00E9\uD83D\uDE00");
/// ```
pub fn escape_java(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            ' '..='\u{7e}' => out.push(c),
            // Commons Text's JavaUnicodeEscaper.outsideOf(32, 0x7f) keeps U+007F as is.
            '\u{7f}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_edge_cases() {
        assert!(split_quotable("").is_empty());
        assert!(split_quotable(" \t\n ").is_empty());
        assert_eq!(split_quotable("a\u{a0}b c"), vec!["a\u{a0}b", "c"]);
        assert_eq!(
            split_quotable(r#""unterminated x"#),
            vec![r#""unterminated x"#]
        );
        assert_eq!(split_quotable(r#"a"b c"d e"#), vec![r#"a"b c"d"#, "e"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_java("a\\b"), "a\\\\b");
        assert_eq!(escape_java("\u{1}"), "\\u0001");
        assert_eq!(escape_java("\u{7f}"), "\u{7f}");
        assert_eq!(escape_java("\u{80}"), "\\u0080");
        assert_eq!(escape_java("it's /ok/"), "it's /ok/");
        assert_eq!(escape_java("\r\u{c}\u{8}\t"), "\\r\\f\\b\\t");
    }
}
