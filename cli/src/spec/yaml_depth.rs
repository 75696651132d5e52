//! How deeply a YAML document nests, found before it is parsed.
//!
//! libyaml (under serde_yaml_ng) scans a document in time proportional to its length times the
//! depth of its flow collections (`[`, `{`), and serde_yaml_ng only refuses a document nested
//! deeper than 128 levels once libyaml has read all of it: `[` repeated 16,000 times takes
//! seconds, a few MB of them hours. So the depth is measured first, by a scanner that follows
//! libyaml's own rules for where tokens start (comments, quoted, plain and block scalars, tags,
//! anchors, line breaks including NEL, LS and PS, a byte order mark at a line's start), and
//! counts the block collections open (libyaml's indentation stack) plus the flow collections
//! open. It is linear in the document's length.
//!
//! Where libyaml would stop with an error, this scanner may go on: the depth it reports is never
//! less than what libyaml reaches in the part it reads.

/// The deepest nesting of collections (block and flow) a YAML document may have: serde_yaml_ng's
/// own limit, which it applies only after parsing the whole document. [`parse_document`]
/// measures the depth first, in linear time, and refuses a deeper document unparsed.
///
/// ```
/// use authing_otp_cli::spec::{parse_document, SpecError, MAX_YAML_DEPTH};
///
/// let deep = format!("openapi: 3.0.0\npaths: {}", "[".repeat(100_000));
/// let err = parse_document(&deep, "deep.yaml").unwrap_err();
/// assert!(matches!(err, SpecError::TooDeep { line: 2, limit: MAX_YAML_DEPTH, .. }));
/// assert_eq!(
///     err.to_string(),
///     "cannot parse deep.yaml as YAML: nested deeper than 128 levels at line 2; refused before \
///      parsing"
/// );
/// ```
///
/// [`parse_document`]: super::parse_document
pub const MAX_YAML_DEPTH: usize = 128;

/// The 1-based line where `text`, read as YAML, first nests deeper than `limit` collections, if
/// it does.
pub(crate) fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let mut scanner = Scanner {
        s: text.as_bytes(),
        at: 0,
        line: 1,
        column: 0,
        flow: 0,
        indents: Vec::new(),
        allowed: true,
        keys: vec![None],
        limit,
    };
    scanner.run().err()
}

/// Where a possible simple key (a mapping key without `?`) starts.
#[derive(Clone, Copy)]
struct Key {
    line: usize,
    column: usize,
    at: usize,
}

/// The state libyaml's scanner keeps that decides where tokens are.
struct Scanner<'a> {
    s: &'a [u8],
    at: usize,
    line: usize,
    /// In characters, as libyaml counts.
    column: usize,
    /// Flow collections open.
    flow: usize,
    /// The columns of the block collections open, innermost last.
    indents: Vec<usize>,
    /// Whether a simple key may start here.
    allowed: bool,
    /// The possible simple key of each flow level (and of the block level, first).
    keys: Vec<Option<Key>>,
    limit: usize,
}

/// Why scanning stopped early: the line that nests too deeply.
type Deep = usize;

impl Scanner<'_> {
    fn byte(&self, offset: usize) -> u8 {
        self.s.get(self.at + offset).copied().unwrap_or(0)
    }

    /// The length of the line break at `offset`, if there is one: `\r\n`, `\r`, `\n`, NEL
    /// (U+0085), LS (U+2028) or PS (U+2029).
    fn break_at(&self, offset: usize) -> Option<usize> {
        match (
            self.byte(offset),
            self.byte(offset + 1),
            self.byte(offset + 2),
        ) {
            (b'\r', b'\n', _) => Some(2),
            (b'\r' | b'\n', _, _) => Some(1),
            (0xC2, 0x85, _) => Some(2),
            (0xE2, 0x80, 0xA8 | 0xA9) => Some(3),
            _ => None,
        }
    }

    fn blank_at(&self, offset: usize) -> bool {
        matches!(self.byte(offset), b' ' | b'\t')
    }

    fn end_at(&self, offset: usize) -> bool {
        self.at + offset >= self.s.len()
    }

    /// Blank, a line break or the end.
    fn blankz_at(&self, offset: usize) -> bool {
        self.blank_at(offset) || self.break_at(offset).is_some() || self.end_at(offset)
    }

    fn is_break(&self) -> bool {
        self.break_at(0).is_some()
    }

    /// Moves past one character (not a line break).
    fn skip(&mut self) {
        let width = match self.byte(0) {
            b if b < 0x80 => 1,
            b if b & 0xE0 == 0xC0 => 2,
            b if b & 0xF0 == 0xE0 => 3,
            _ => 4,
        };
        self.at = (self.at + width).min(self.s.len());
        self.column += 1;
    }

    /// Moves past a line break.
    fn skip_line(&mut self) {
        if let Some(len) = self.break_at(0) {
            self.at += len;
            self.line += 1;
            self.column = 0;
        }
    }

    fn indent(&self) -> isize {
        self.indents.last().map_or(-1, |&c| c as isize)
    }

    fn deeper(&self) -> Result<(), Deep> {
        if self.indents.len() + self.flow > self.limit {
            Err(self.line)
        } else {
            Ok(())
        }
    }

    /// A block collection at `column`, if it is deeper than the current one.
    fn roll(&mut self, column: usize) -> Result<(), Deep> {
        if self.flow == 0 && self.indent() < column as isize {
            self.indents.push(column);
        }
        self.deeper()
    }

    /// The possible simple key of the current level.
    fn key(&mut self) -> &mut Option<Key> {
        self.keys
            .last_mut()
            .expect("the block level's is never removed")
    }

    fn save_key(&mut self) {
        if self.allowed {
            *self.key() = Some(Key {
                line: self.line,
                column: self.column,
                at: self.at,
            });
        }
    }

    fn run(&mut self) -> Result<(), Deep> {
        loop {
            self.skip_to_next_token();
            // A possible simple key goes stale at the end of its line or after 1024 bytes.
            let (line, at) = (self.line, self.at);
            for key in &mut self.keys {
                if key.is_some_and(|k| k.line < line || k.at + 1024 < at) {
                    *key = None;
                }
            }
            if self.flow == 0 {
                while self.indent() > self.column as isize {
                    self.indents.pop();
                }
            }
            if self.end_at(0) {
                return Ok(());
            }
            let c = self.byte(0);
            if self.column == 0 && c == b'%' {
                // A directive: nothing on its line is a token.
                self.indents.clear();
                *self.key() = None;
                self.allowed = false;
                while !self.end_at(0) && !self.is_break() {
                    self.skip();
                }
                continue;
            }
            if self.column == 0
                && (self.s[self.at..].starts_with(b"---") || self.s[self.at..].starts_with(b"..."))
                && self.blankz_at(3)
            {
                if self.flow == 0 {
                    self.indents.clear();
                }
                *self.key() = None;
                self.allowed = false;
                for _ in 0..3 {
                    self.skip();
                }
                continue;
            }
            match c {
                b'[' | b'{' => {
                    self.save_key();
                    self.flow += 1;
                    self.keys.push(None);
                    self.deeper()?;
                    self.allowed = true;
                    self.skip();
                }
                b']' | b'}' => {
                    *self.key() = None;
                    if self.flow > 0 {
                        self.flow -= 1;
                        self.keys.pop();
                    }
                    self.allowed = false;
                    self.skip();
                }
                b',' => {
                    *self.key() = None;
                    self.allowed = true;
                    self.skip();
                }
                b'-' if self.blankz_at(1) => {
                    if self.flow > 0 {
                        // libyaml's parser refuses a block entry in a flow collection.
                        return Ok(());
                    }
                    self.roll(self.column)?;
                    *self.key() = None;
                    self.allowed = true;
                    self.skip();
                }
                b'?' if self.flow > 0 || self.blankz_at(1) => {
                    self.roll(self.column)?;
                    *self.key() = None;
                    self.allowed = self.flow == 0;
                    self.skip();
                }
                b':' if self.flow > 0 || self.blankz_at(1) => {
                    match self.key().take() {
                        Some(key) => {
                            self.roll(key.column)?;
                            self.allowed = false;
                        }
                        None => {
                            self.roll(self.column)?;
                            self.allowed = self.flow == 0;
                        }
                    }
                    self.skip();
                }
                b'*' | b'&' => {
                    self.save_key();
                    self.allowed = false;
                    self.skip();
                    while self.byte(0).is_ascii_alphanumeric()
                        || matches!(self.byte(0), b'_' | b'-')
                    {
                        self.skip();
                    }
                }
                b'!' => {
                    self.save_key();
                    self.allowed = false;
                    if !self.tag() {
                        return Ok(());
                    }
                }
                b'|' | b'>' if self.flow == 0 => {
                    *self.key() = None;
                    self.allowed = true;
                    if !self.block_scalar() {
                        return Ok(());
                    }
                }
                b'\'' | b'"' => {
                    self.save_key();
                    self.allowed = false;
                    self.quoted(c);
                }
                _ => {
                    let plain = !(self.blankz_at(0) || b"-?:,[]{}#&*!|>'\"%@`".contains(&c))
                        || (c == b'-' && !self.blank_at(1))
                        || (self.flow == 0 && matches!(c, b'?' | b':') && !self.blankz_at(1));
                    if !plain {
                        // libyaml: "found character that cannot start any token".
                        return Ok(());
                    }
                    self.save_key();
                    match self.plain() {
                        Some(leading_blanks) => self.allowed = leading_blanks,
                        None => return Ok(()),
                    }
                }
            }
        }
    }

    /// Skips blanks, comments and line breaks up to the next token.
    fn skip_to_next_token(&mut self) {
        loop {
            if self.column == 0 && self.s[self.at..].starts_with(b"\xEF\xBB\xBF") {
                self.skip();
            }
            while self.byte(0) == b' '
                || ((self.flow > 0 || !self.allowed) && self.byte(0) == b'\t')
            {
                self.skip();
            }
            if self.byte(0) == b'#' {
                while !self.end_at(0) && !self.is_break() {
                    self.skip();
                }
            }
            if !self.is_break() {
                return;
            }
            self.skip_line();
            if self.flow == 0 {
                self.allowed = true;
            }
        }
    }

    /// Skips a tag (`!`, `!!str`, `!<verbatim>`): false where libyaml stops with an error.
    fn tag(&mut self) -> bool {
        let uri = |b: u8, verbatim: bool| {
            b.is_ascii_alphanumeric()
                || b >= 0x80
                || b";/?:@&=+$.%!~*'()_-".contains(&b)
                || (verbatim && b",[]".contains(&b))
        };
        if self.byte(1) == b'<' {
            self.skip();
            self.skip();
            while uri(self.byte(0), true) && !self.end_at(0) {
                self.skip();
            }
            if self.byte(0) != b'>' {
                return false;
            }
            self.skip();
        } else {
            self.skip();
            while uri(self.byte(0), false) && !self.end_at(0) {
                self.skip();
            }
        }
        self.blankz_at(0) || (self.flow > 0 && self.byte(0) == b',')
    }

    /// Skips a quoted scalar, its quotes included.
    fn quoted(&mut self, quote: u8) {
        self.skip();
        while !self.end_at(0) {
            let c = self.byte(0);
            if self.is_break() {
                self.skip_line();
            } else if quote == b'\'' && c == b'\'' && self.byte(1) == b'\'' {
                self.skip();
                self.skip();
            } else if quote == b'"' && c == b'\\' {
                self.skip();
                if self.is_break() {
                    self.skip_line();
                } else if !self.end_at(0) {
                    self.skip();
                }
            } else if c == quote {
                self.skip();
                return;
            } else {
                self.skip();
            }
        }
    }

    /// Skips a block scalar (`|` or `>`): its header line, then every line indented at least as
    /// much as its content. False where libyaml stops with an error.
    fn block_scalar(&mut self) -> bool {
        self.skip();
        let mut increment = 0;
        for _ in 0..2 {
            match self.byte(0) {
                b'+' | b'-' => self.skip(),
                b @ b'1'..=b'9' if increment == 0 => {
                    increment = usize::from(b - b'0');
                    self.skip();
                }
                _ => break,
            }
        }
        while self.blank_at(0) {
            self.skip();
        }
        if self.byte(0) == b'#' {
            while !self.end_at(0) && !self.is_break() {
                self.skip();
            }
        }
        if !self.is_break() && !self.end_at(0) {
            return false;
        }
        self.skip_line();
        let parent = self.indent();
        let mut indent = match increment {
            0 => 0,
            n if parent >= 0 => parent as usize + n,
            n => n,
        };
        if !self.block_breaks(&mut indent, parent) {
            return false;
        }
        while self.column == indent && !self.end_at(0) {
            while !self.end_at(0) && !self.is_break() {
                self.skip();
            }
            self.skip_line();
            if !self.block_breaks(&mut indent, parent) {
                return false;
            }
        }
        true
    }

    /// Skips the indentation and empty lines before a block scalar's next line, and settles
    /// its indentation when it is detected (`*indent == 0`).
    fn block_breaks(&mut self, indent: &mut usize, parent: isize) -> bool {
        let mut most = 0;
        loop {
            while (*indent == 0 || self.column < *indent) && self.byte(0) == b' ' {
                self.skip();
            }
            most = most.max(self.column);
            if (*indent == 0 || self.column < *indent) && self.byte(0) == b'\t' {
                return false;
            }
            if !self.is_break() {
                break;
            }
            self.skip_line();
        }
        if *indent == 0 {
            *indent = most.max((parent + 1) as usize).max(1);
        }
        true
    }

    /// Skips a plain scalar, over several lines if they are its: whether it ended after a line
    /// break (so a simple key may follow), or `None` where libyaml stops with an error.
    fn plain(&mut self) -> Option<bool> {
        let indent = self.indent() + 1;
        let mut leading_blanks = false;
        loop {
            if self.column == 0
                && (self.s[self.at..].starts_with(b"---") || self.s[self.at..].starts_with(b"..."))
                && self.blankz_at(3)
            {
                break;
            }
            if self.byte(0) == b'#' {
                break;
            }
            while !self.blankz_at(0) {
                let c = self.byte(0);
                if self.flow > 0 && c == b':' && b",?[]{}".contains(&self.byte(1)) {
                    return None;
                }
                if (c == b':' && self.blankz_at(1)) || (self.flow > 0 && b",[]{}".contains(&c)) {
                    break;
                }
                if leading_blanks {
                    leading_blanks = false;
                }
                self.skip();
            }
            if !(self.blank_at(0) || self.is_break()) {
                break;
            }
            while self.blank_at(0) || self.is_break() {
                if self.blank_at(0) {
                    if leading_blanks && (self.column as isize) < indent && self.byte(0) == b'\t' {
                        return None;
                    }
                    self.skip();
                } else {
                    self.skip_line();
                    leading_blanks = true;
                }
            }
            if self.flow == 0 && (self.column as isize) < indent {
                break;
            }
        }
        Some(leading_blanks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest nesting of `text`, as this scanner measures it.
    fn depth(text: &str) -> usize {
        (0..=64)
            .find(|&limit| too_deep(text, limit).is_none())
            .unwrap()
    }

    #[test]
    fn depths_of_small_documents() {
        for (text, expect) in [
            ("", 0),
            ("a", 0),
            ("a: 1", 1),
            ("a:\n  b: 1\n  c: [1, {d: 2}]\n", 4),
            ("- - - a", 3),
            ("- a: 1\n  b: [x]\n", 3),
            ("a: '[[[['\nb: \"{{{\\\"[[\"\n", 1),
            ("a: x[[[ # [[[\n", 1),
            ("a: |\n  [[[[\n  {{{{\nb: 1\n", 1),
            ("a: >-\n    [[[[\n\n    [[\nb: [1]\n", 2),
            ("a: plain\n  [[[ continued\nb: 1\n", 1),
            ("[a, [b, [c]], d]", 3),
            ("{a: [b, c], d: {e: f}}", 2),
            ("a: !!str [1]\nb: &x [2]\nc: *x\n", 2),
            ("? [a]\n: [b]\n", 2),
            ("%YAML 1.1\n--- [[a]]\n", 2),
        ] {
            assert_eq!(depth(text), expect, "{text:?}");
        }
    }

    #[test]
    fn deep_flow_and_block_nesting_is_found_with_its_line() {
        let flow = format!("a:\n  b: {}", "[".repeat(200));
        assert_eq!(too_deep(&flow, MAX_YAML_DEPTH), Some(2));
        let mapping = format!("x: 1\ny: {}", "{a: ".repeat(200));
        assert_eq!(too_deep(&mapping, MAX_YAML_DEPTH), Some(2));
        let block: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert_eq!(too_deep(&block, MAX_YAML_DEPTH), Some(MAX_YAML_DEPTH + 1));
        let compact = "- ".repeat(200);
        assert_eq!(too_deep(&compact, MAX_YAML_DEPTH), Some(1));
        // Exactly the limit is fine.
        assert_eq!(too_deep(&"[".repeat(MAX_YAML_DEPTH), MAX_YAML_DEPTH), None);
        assert_eq!(
            too_deep(&"[".repeat(MAX_YAML_DEPTH + 1), MAX_YAML_DEPTH),
            Some(1)
        );
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Documents made of YAML's tricky pieces, some with a deep part: whatever libyaml nests
    /// deeper than the limit (serde_yaml_ng says so, having parsed it all), the scanner finds
    /// too deep; whatever parses, it does not.
    #[test]
    fn agrees_with_serde_yaml_ng() {
        let pieces: &[&str] = &[
            "a",
            "b: ",
            "- ",
            "? ",
            ": ",
            "[",
            "]",
            "{",
            "}",
            ", ",
            "'",
            "''",
            "\"",
            "\\\"",
            "#",
            " #c",
            "\n",
            "\n  ",
            "\n    ",
            "\r\n",
            "\t",
            " ",
            "|",
            ">-",
            "|2",
            "!!str ",
            "!<t[]> ",
            "&x ",
            "it's",
            "x[",
            "]y",
            "\u{2028}",
            "\u{85}",
            "\u{feff}",
            "---\n",
            "%YAML 1.1\n",
            "a:b",
            ":x",
            "-x",
            "k: v\n",
            "\n- [",
            "{\"q\": ",
        ];
        let block: String = (0..130).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        let deep = [
            "[".repeat(130),
            "{a: ".repeat(130),
            "- ".repeat(130),
            "[a, ".repeat(130),
            block,
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut too_deep_seen, mut parsed_seen) = (0, 0);
        for _ in 0..6_000 {
            let mut text = String::new();
            for _ in 0..rng.below(24) {
                if rng.below(12) == 0 {
                    text.push_str(&deep[rng.below(deep.len())]);
                } else {
                    text.push_str(pieces[rng.below(pieces.len())]);
                }
            }
            let measured = too_deep(&text, MAX_YAML_DEPTH);
            match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
                Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                    too_deep_seen += 1;
                    assert!(measured.is_some(), "not found too deep: {text:?}");
                }
                Ok(_) => {
                    parsed_seen += 1;
                    assert_eq!(measured, None, "found too deep: {text:?}");
                }
                Err(_) => {}
            }
        }
        assert!(
            too_deep_seen > 50 && parsed_seen > 500,
            "{too_deep_seen} {parsed_seen}"
        );
    }

    #[test]
    fn what_libyaml_reads_as_tokens_is_counted() {
        // Each hides 200 `[` from a scanner that knows less of libyaml's rules.
        let deep = "[".repeat(200);
        for text in [
            // A line separator ends a comment.
            format!("a: 1 # comment\u{2028}b: {deep}"),
            // So does NEL, and a byte order mark at a line's start is skipped.
            format!("a: 1 # c\u{85}\u{feff}b: {deep}"),
            // An apostrophe inside a plain scalar does not open a quoted one.
            format!("a: it's\nb: {deep}\nc: '"),
            // A quote in flow context after a plain scalar's end is a token start.
            format!("a: [x, 'y]', {deep}"),
            // A tab before a token, once a key is not allowed.
            format!("a:\t{deep}"),
            // A block scalar ends at a line indented less than its content.
            format!("a:\n  b: |\n     text\n  c: {deep}"),
        ] {
            assert!(too_deep(&text, MAX_YAML_DEPTH).is_some(), "{text:?}");
        }
    }
}
