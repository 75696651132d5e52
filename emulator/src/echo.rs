//! Bounds on the text an answer repeats from its request, so that no request, however large,
//! gets a large answer.

use std::borrow::Cow;

/// The most items one message lists (validation problems, unknown user ids); the others are
/// only counted.
pub(crate) const SHOWN: usize = 20;

/// The most characters of one user id a message repeats.
pub(crate) const ID_CHARS: usize = 64;

/// The most characters of a path a 404 repeats.
pub(crate) const PATH_CHARS: usize = 256;

/// The most characters of a method a 404 repeats (extension methods can be long).
pub(crate) const METHOD_CHARS: usize = 32;

/// The most characters of one validation problem. Problems name places in the schema, not
/// submitted values, so this only guards against a schema with very deep nesting.
pub(crate) const PROBLEM_CHARS: usize = 256;

/// `text` cut after `max` characters, with `…` appended when something was cut. Looks at no
/// more than `max + 1` characters of `text`.
pub(crate) fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééé", 2), "éé…");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("a", 0), "…");
    }
}
