//! A pull-based, validating JSON scanner that walks a realm export and hands out the bytes of
//! one `users` entry at a time.
//!
//! Why not serde_json's own streaming: serde drives a visitor (push), so turning it into an
//! iterator the command pulls from would need a thread and a channel, and the reader would then
//! have to be `Send + 'static` (the command's check pass reads through a borrowed, hashing
//! reader). It also cannot bound one entry: a user with a 2 GB string would be read into a 2 GB
//! `String` before any visitor sees it. This scanner checks the JSON grammar as serde_json does
//! when it skips a value (`IgnoredAny`: structure, literals, numbers, escapes, control
//! characters in strings; not the UTF-8 of skipped strings, as serde_json does not either), with
//! nesting at most [`MAX_DEPTH`] deep, keeps nothing of the values it skips, and keeps at most
//! [`super::MAX_USER_BYTES`] of an entry: past that, the rest of the entry is scanned (still
//! validated) but not kept. Each kept entry is then parsed by serde_json in full.

use std::io::{self, Read};

/// How deeply arrays and objects may nest, the top-level object counting as 1: serde_json's
/// limit when it builds a value (it has none when it skips one, but then its stack grows
/// without bound). A realm export nests about 8 deep.
pub(crate) const MAX_DEPTH: usize = 127;

/// The read buffer's size.
const BUF_BYTES: usize = 64 * 1024;

/// The longest top-level key kept for comparison with `users`, in bytes: `"users"` escaped
/// character by character (`\u0075…`) is 32 bytes with its quotes.
const KEY_BYTES: usize = 64;

/// What went wrong, and where (`offset` is 0-based in bytes, `line` and `column` 1-based, the
/// column in bytes).
#[derive(Debug)]
pub(crate) struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) offset: u64,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

#[derive(Debug)]
pub(crate) enum FaultKind {
    Io(io::Error),
    /// Not valid JSON: what was expected or found, never a value.
    Syntax(&'static str),
    /// The input ends inside the JSON (or is empty).
    Eof,
    /// Valid JSON so far, but not the shape of an export.
    Shape(&'static str),
}

/// One entry of a `users` array: where it starts, and its bytes (`None` when it is longer than
/// the limit, and so was not kept).
pub(crate) struct Entry<'a> {
    pub(crate) offset: u64,
    pub(crate) line: u64,
    pub(crate) bytes: Option<&'a [u8]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// In the top-level object, before a key (`first`: before the first one).
    Keys {
        first: bool,
    },
    /// In the `users` array, before an entry.
    Users {
        first: bool,
    },
    /// After the top-level object: only whitespace may follow.
    End,
    Done,
}

/// The entries of the `users` array of one export file, in order.
pub(crate) struct Entries<R> {
    scan: Scanner<R>,
    state: State,
    users_seen: bool,
    entry_limit: usize,
}

impl<R: Read> Entries<R> {
    pub(crate) fn new(reader: R, entry_limit: usize) -> Self {
        Entries {
            scan: Scanner::new(reader),
            state: State::Start,
            users_seen: false,
            entry_limit,
        }
    }

    /// Whether the top-level object had a `users` key (an array, or `null`).
    pub(crate) fn users_seen(&self) -> bool {
        self.users_seen
    }

    /// The next entry; `None` once the file's object is closed and nothing but whitespace
    /// follows it. After an error, always `None`.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry<'_>>, Fault> {
        match self.step() {
            Ok(true) => {
                let (offset, line) = self.scan.entry_start;
                Ok(Some(Entry {
                    offset,
                    line,
                    bytes: self.scan.kept(),
                }))
            }
            Ok(false) => Ok(None),
            Err(kind) => {
                self.state = State::Done;
                Err(self.scan.fault(kind))
            }
        }
    }

    /// Moves to the end of the next entry (`true`) or of the file (`false`).
    fn step(&mut self) -> Result<bool, FaultKind> {
        let s = &mut self.scan;
        loop {
            match self.state {
                State::Start => {
                    s.skip_bom()?;
                    match s.skip_ws()? {
                        None => return Err(FaultKind::Eof),
                        Some(b'{') => {
                            s.pos += 1;
                            self.state = State::Keys { first: true };
                        }
                        Some(b'[') => {
                            return Err(FaultKind::Shape(
                                "a JSON array, as `kc.sh export` writes when it exports every \
                                 realm: export one realm (--realm NAME)",
                            ));
                        }
                        Some(_) => {
                            // A value other than an object is refused as such; not JSON at all
                            // is a syntax error where it stops being JSON.
                            s.skip_value(0)?;
                            return Err(FaultKind::Shape(
                                "not a JSON object (a Keycloak realm export is one)",
                            ));
                        }
                    }
                }
                State::Keys { first } => {
                    let mut b = s.skip_ws()?.ok_or(FaultKind::Eof)?;
                    if b == b'}' {
                        s.pos += 1;
                        self.state = State::End;
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(FaultKind::Syntax("expected `,` or `}`"));
                        }
                        s.pos += 1;
                        b = s.skip_ws()?.ok_or(FaultKind::Eof)?;
                    }
                    if b != b'"' {
                        return Err(FaultKind::Syntax("expected a key"));
                    }
                    let is_users = s.key_is(b"users")?;
                    s.colon()?;
                    self.state = State::Keys { first: false };
                    if !is_users {
                        s.skip_value(1)?;
                        continue;
                    }
                    if self.users_seen {
                        return Err(FaultKind::Shape("a second `users` key"));
                    }
                    self.users_seen = true;
                    match s.skip_ws()?.ok_or(FaultKind::Eof)? {
                        b'[' => {
                            s.pos += 1;
                            self.state = State::Users { first: true };
                        }
                        // No users, written as null.
                        b'n' => s.skip_value(1)?,
                        _ => return Err(FaultKind::Shape("`users` is not an array")),
                    }
                }
                State::Users { first } => {
                    let b = s.skip_ws()?.ok_or(FaultKind::Eof)?;
                    if b == b']' {
                        s.pos += 1;
                        self.state = State::Keys { first: false };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(FaultKind::Syntax("expected `,` or `]`"));
                        }
                        s.pos += 1;
                        s.skip_ws()?;
                    }
                    s.entry_start = (s.offset(), s.line);
                    s.start_capture(self.entry_limit);
                    s.skip_value(2)?;
                    s.end_capture();
                    self.state = State::Users { first: false };
                    return Ok(true);
                }
                State::End => {
                    if s.skip_ws()?.is_some() {
                        return Err(FaultKind::Syntax("data after the end of the JSON object"));
                    }
                    self.state = State::Done;
                    return Ok(false);
                }
                State::Done => return Ok(false),
            }
        }
    }
}

/// Bytes read through a buffer of its own, with the position (offset, line, column) of the next
/// byte, and optionally a copy of the bytes consumed (a capture) up to a limit.
struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The input offset of `buf[0]`.
    base: u64,
    /// The 1-based line of `buf[pos]`, and the offset its line starts at.
    line: u64,
    line_start: u64,
    /// The start (offset, line) of the entry being, or last, captured.
    entry_start: (u64, u64),
    capturing: bool,
    /// Where the bytes of the capture not yet copied start in `buf`.
    cap_from: usize,
    cap_limit: usize,
    /// The capture is over its limit: `kept` is empty and stays so.
    cap_over: bool,
    kept: Vec<u8>,
}

impl<R: Read> Scanner<R> {
    fn new(reader: R) -> Self {
        Scanner {
            reader,
            buf: vec![0; BUF_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            line: 1,
            line_start: 0,
            entry_start: (0, 1),
            capturing: false,
            cap_from: 0,
            cap_limit: 0,
            cap_over: false,
            kept: Vec::new(),
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn fault(&self, kind: FaultKind) -> Fault {
        let offset = self.offset();
        Fault {
            kind,
            offset,
            line: self.line,
            column: offset - self.line_start + 1,
        }
    }

    /// Reads the next chunk once every byte of the buffer is consumed: `false` at the end of
    /// the input.
    #[cold]
    fn refill(&mut self) -> Result<bool, FaultKind> {
        debug_assert_eq!(self.pos, self.len);
        if self.capturing {
            self.keep_consumed();
            self.cap_from = 0;
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => {
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FaultKind::Io(e)),
            }
        }
    }

    /// The next byte, not consumed; `None` at the end of the input.
    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, FaultKind> {
        if self.pos == self.len && !self.refill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte, consumed; the end of the input is an error.
    #[inline]
    fn next(&mut self) -> Result<u8, FaultKind> {
        let b = self.peek()?.ok_or(FaultKind::Eof)?;
        self.pos += 1;
        Ok(b)
    }

    /// Skips a UTF-8 byte order mark at the start (serde_json refuses one; some tools write it).
    fn skip_bom(&mut self) -> Result<(), FaultKind> {
        if self.peek()? == Some(0xEF) {
            self.pos += 1;
            if self.next()? != 0xBB || self.next()? != 0xBF {
                return Err(FaultKind::Syntax("expected a value"));
            }
        }
        Ok(())
    }

    /// Skips whitespace; the next byte after it, not consumed.
    #[inline]
    fn skip_ws(&mut self) -> Result<Option<u8>, FaultKind> {
        loop {
            let Some(b) = self.peek()? else {
                return Ok(None);
            };
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.offset();
                }
                _ => return Ok(Some(b)),
            }
        }
    }

    /// Copies what the capture has consumed so far into `kept`, unless over its limit.
    fn keep_consumed(&mut self) {
        let chunk = &self.buf[self.cap_from..self.pos];
        self.cap_from = self.pos;
        if self.cap_over {
            return;
        }
        if self.kept.len() + chunk.len() > self.cap_limit {
            self.cap_over = true;
            self.kept.clear();
        } else {
            self.kept.extend_from_slice(chunk);
        }
    }

    fn start_capture(&mut self, limit: usize) {
        self.kept.clear();
        // A buffer grown by an entry over the limit is not kept grown.
        self.kept.shrink_to(limit);
        self.cap_limit = limit;
        self.cap_over = false;
        self.capturing = true;
        self.cap_from = self.pos;
    }

    fn end_capture(&mut self) {
        self.keep_consumed();
        self.capturing = false;
    }

    /// What the last capture kept, unless it was over its limit.
    fn kept(&self) -> Option<&[u8]> {
        (!self.cap_over).then_some(&self.kept[..])
    }

    /// Reads the key string starting at the next byte (a `"`): whether it is `name`.
    fn key_is(&mut self, name: &[u8]) -> Result<bool, FaultKind> {
        self.start_capture(KEY_BYTES);
        self.pos += 1;
        let scanned = self.skip_string();
        self.end_capture();
        scanned?;
        let Some(raw) = self.kept() else {
            return Ok(false);
        };
        let inner = &raw[1..raw.len() - 1];
        if !inner.contains(&b'\\') {
            return Ok(inner == name);
        }
        // An escaped key, such as `"us\u0065rs"`, is compared as JSON reads it.
        Ok(serde_json::from_slice::<String>(raw).is_ok_and(|key| key.as_bytes() == name))
    }

    /// Skips whitespace and a `:`.
    fn colon(&mut self) -> Result<(), FaultKind> {
        match self.skip_ws()?.ok_or(FaultKind::Eof)? {
            b':' => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(FaultKind::Syntax("expected `:`")),
        }
    }

    /// Skips an object's key (whitespace, a string) and its `:`.
    fn object_key(&mut self) -> Result<(), FaultKind> {
        match self.skip_ws()?.ok_or(FaultKind::Eof)? {
            b'"' => {
                self.pos += 1;
                self.skip_string()?;
            }
            _ => return Err(FaultKind::Syntax("expected a key")),
        }
        self.colon()
    }

    /// Skips the rest of a string whose opening quote is consumed.
    fn skip_string(&mut self) -> Result<(), FaultKind> {
        loop {
            if self.pos == self.len && !self.refill()? {
                return Err(FaultKind::Eof);
            }
            let rest = &self.buf[self.pos..self.len];
            match rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            {
                None => self.pos = self.len,
                Some(i) => {
                    let b = rest[i];
                    self.pos += i;
                    match b {
                        b'"' => {
                            self.pos += 1;
                            return Ok(());
                        }
                        b'\\' => {
                            self.pos += 1;
                            self.skip_escape()?;
                        }
                        _ => return Err(FaultKind::Syntax("a control character in a string")),
                    }
                }
            }
        }
    }

    /// Skips the rest of an escape whose `\` is consumed.
    fn skip_escape(&mut self) -> Result<(), FaultKind> {
        match self.peek()?.ok_or(FaultKind::Eof)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.pos += 1;
                Ok(())
            }
            b'u' => {
                self.pos += 1;
                for _ in 0..4 {
                    match self.peek()?.ok_or(FaultKind::Eof)? {
                        b if b.is_ascii_hexdigit() => self.pos += 1,
                        _ => return Err(FaultKind::Syntax("an invalid \\u escape in a string")),
                    }
                }
                Ok(())
            }
            _ => Err(FaultKind::Syntax("an invalid escape in a string")),
        }
    }

    /// Skips the rest of a literal whose first byte is consumed.
    fn skip_literal(&mut self, rest: &[u8]) -> Result<(), FaultKind> {
        for &expected in rest {
            match self.peek()?.ok_or(FaultKind::Eof)? {
                b if b == expected => self.pos += 1,
                _ => {
                    return Err(FaultKind::Syntax(
                        "an invalid literal (not true, false or null)",
                    ));
                }
            }
        }
        Ok(())
    }

    fn skip_digits(&mut self) -> Result<usize, FaultKind> {
        let mut n = 0;
        while let Some(b'0'..=b'9') = self.peek()? {
            self.pos += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Skips the rest of a number whose first byte (`-` or a digit) is consumed.
    fn skip_number(&mut self, first: u8) -> Result<(), FaultKind> {
        const BAD: FaultKind = FaultKind::Syntax("an invalid number");
        let lead = if first == b'-' {
            match self.peek()?.ok_or(FaultKind::Eof)? {
                b @ b'0'..=b'9' => {
                    self.pos += 1;
                    b
                }
                _ => return Err(BAD),
            }
        } else {
            first
        };
        if lead == b'0' {
            if let Some(b'0'..=b'9') = self.peek()? {
                return Err(FaultKind::Syntax("a number with a leading zero"));
            }
        } else {
            self.skip_digits()?;
        }
        if self.peek()? == Some(b'.') {
            self.pos += 1;
            if self.peek()?.is_none() {
                return Err(FaultKind::Eof);
            }
            if self.skip_digits()? == 0 {
                return Err(BAD);
            }
        }
        if let Some(b'e' | b'E') = self.peek()? {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek()? {
                self.pos += 1;
            }
            if self.peek()?.is_none() {
                return Err(FaultKind::Eof);
            }
            if self.skip_digits()? == 0 {
                return Err(BAD);
            }
        }
        Ok(())
    }

    /// Skips (and validates) the next value, after any whitespace; `depth` is how many arrays
    /// and objects it is inside.
    fn skip_value(&mut self, depth: usize) -> Result<(), FaultKind> {
        // Which of the open containers are objects, innermost last.
        let mut objects = [false; MAX_DEPTH];
        let mut open = 0;
        'value: loop {
            let b = self.skip_ws()?.ok_or(FaultKind::Eof)?;
            self.pos += 1;
            match b {
                b'{' | b'[' => {
                    if depth + open + 1 > MAX_DEPTH {
                        self.pos -= 1;
                        return Err(FaultKind::Syntax(
                            "arrays and objects nested more than 127 deep",
                        ));
                    }
                    let object = b == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.skip_ws()?.ok_or(FaultKind::Eof)? == close {
                        self.pos += 1;
                    } else {
                        objects[open] = object;
                        open += 1;
                        if object {
                            self.object_key()?;
                        }
                        continue 'value;
                    }
                }
                b'"' => self.skip_string()?,
                b't' => self.skip_literal(b"rue")?,
                b'f' => self.skip_literal(b"alse")?,
                b'n' => self.skip_literal(b"ull")?,
                b'-' | b'0'..=b'9' => self.skip_number(b)?,
                _ => {
                    self.pos -= 1;
                    return Err(FaultKind::Syntax("expected a value"));
                }
            }
            // A value ended: close what it ends, or go on to the next member or element.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let object = objects[open - 1];
                match (self.skip_ws()?.ok_or(FaultKind::Eof)?, object) {
                    (b',', _) => {
                        self.pos += 1;
                        if object {
                            self.object_key()?;
                        }
                        continue 'value;
                    }
                    (b'}', true) | (b']', false) => {
                        self.pos += 1;
                        open -= 1;
                    }
                    (_, true) => return Err(FaultKind::Syntax("expected `,` or `}`")),
                    (_, false) => return Err(FaultKind::Syntax("expected `,` or `]`")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the scanner accepts `text` as one JSON value (and nothing after it).
    fn scans(text: &[u8]) -> bool {
        let mut s = Scanner::new(text);
        s.skip_value(0).is_ok() && matches!(s.skip_ws(), Ok(None))
    }

    /// A reader that returns one byte at a time, so that every chunk boundary is exercised.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    const SAMPLES: &[&str] = &[
        "{}",
        "[]",
        " { \"a\" : [ 1 , -2.5e+3 , 0 , 0.0 , 1E9 , true , false , null , \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\" ] } ",
        "{\"a\":{\"b\":{\"c\":[[],{}]}}}",
        "\"\u{e9}\u{1F600}\"",
        "-0",
        "123",
        // Invalid ones.
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[-]",
        "[+1]",
        "[tru]",
        "[nul]",
        "[True]",
        "[\"a\nb\"]",
        "[\"\\x\"]",
        "[\"\\u12g4\"]",
        "[\"abc]",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "[1]]",
        "{}{}",
        "",
        "   ",
        "[NaN]",
        "[1,,2]",
        "['a']",
    ];

    #[test]
    fn accepts_and_refuses_json_as_serde_json_does() {
        for sample in SAMPLES {
            let ours = scans(sample.as_bytes());
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(sample).is_ok();
            assert_eq!(ours, theirs, "{sample:?}");
        }
    }

    #[test]
    fn nesting_is_bounded_as_serde_json_bounds_values() {
        for depth in [127, 128, 129, 100_000] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            // serde_json's limit when it builds a value (skipping one, it has none).
            let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            assert_eq!(scans(text.as_bytes()), theirs, "depth {depth}");
            assert_eq!(theirs, depth <= MAX_DEPTH, "depth {depth}");
        }
    }

    /// Random byte changes to valid documents: the scanner and serde_json agree on every one.
    #[test]
    fn agrees_with_serde_json_on_mutated_documents() {
        let base = br#"{"realm":"acme","n":[1,-2.5e3,0,{"k":"v\u00e9\n"}],"users":[{"id":"1","credentials":[{"type":"otp"}]}],"t":true,"f":false,"z":null}"#;
        const NOISE: &[u8] = b"{}[],:\" \\-+.0123456789eEtrufalsn\n\x01\xc3";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut disagreements = Vec::new();
        let mut valid = 0;
        let mut invalid = 0;
        for _ in 0..20_000 {
            let mut doc = base.to_vec();
            for _ in 0..1 + rand() % 3 {
                let at = (rand() as usize) % doc.len();
                let byte = NOISE[(rand() as usize) % NOISE.len()];
                match rand() % 3 {
                    0 => doc[at] = byte,
                    1 => doc.insert(at, byte),
                    _ => {
                        doc.remove(at);
                    }
                }
            }
            // serde_json checks the UTF-8 of every string it reads, even skipped; the scanner
            // does not (see the module docs), so only documents that are UTF-8 are compared.
            if std::str::from_utf8(&doc).is_err() {
                continue;
            }
            let theirs = serde_json::from_slice::<serde::de::IgnoredAny>(&doc).is_ok();
            if theirs {
                valid += 1;
            } else {
                invalid += 1;
            }
            if scans(&doc) != theirs {
                disagreements.push(String::from_utf8_lossy(&doc).into_owned());
            }
            // The export's walk: never accepts what is not JSON, never calls JSON broken.
            let mut entries = Entries::new(&doc[..], 1024);
            let walked = loop {
                match entries.next_entry() {
                    Ok(Some(_)) => continue,
                    Ok(None) => break Ok(()),
                    Err(fault) => break Err(fault.kind),
                }
            };
            match (theirs, walked) {
                (false, Ok(())) | (true, Err(FaultKind::Syntax(_) | FaultKind::Eof)) => {
                    disagreements.push(String::from_utf8_lossy(&doc).into_owned());
                }
                _ => {}
            }
        }
        assert!(disagreements.is_empty(), "{disagreements:#?}");
        // Both kinds were tried, many times.
        assert!(
            valid > 1000 && invalid > 1000,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn entries_are_found_wherever_users_is_and_across_chunk_boundaries() {
        let text = br#"{"realm":"acme","clients":[{"users":[9]}],"users":[ {"id":"a"} , {"id":"b","x":[1]} ],"roles":{}}"#;
        for trickle in [false, true] {
            let mut entries = if trickle {
                Entries::new(Box::new(Trickle(text)) as Box<dyn Read>, 1024)
            } else {
                Entries::new(Box::new(&text[..]) as Box<dyn Read>, 1024)
            };
            let mut got = Vec::new();
            while let Some(entry) = entries.next_entry().unwrap() {
                got.push((entry.offset, entry.bytes.unwrap().to_vec()));
            }
            assert!(entries.users_seen());
            assert_eq!(
                got,
                vec![
                    (52, br#"{"id":"a"}"#.to_vec()),
                    (65, br#"{"id":"b","x":[1]}"#.to_vec()),
                ]
            );
        }
    }

    #[test]
    fn an_entry_over_the_limit_is_scanned_not_kept() {
        let text = br#"{"users":[{"id":"aaaaaaaaaaaaaaaaaaaa"},{"id":"b"}]}"#;
        let mut entries = Entries::new(Trickle(text), 16);
        assert!(entries.next_entry().unwrap().unwrap().bytes.is_none());
        assert_eq!(
            entries.next_entry().unwrap().unwrap().bytes,
            Some(&br#"{"id":"b"}"#[..])
        );
        assert!(entries.next_entry().unwrap().is_none());
    }

    #[test]
    fn faults_say_where() {
        let text = b"{\n  \"users\": [\n    {\"id\": tru}\n  ]\n}";
        let mut entries = Entries::new(&text[..], 1024);
        let fault = entries.next_entry().err().unwrap();
        assert!(matches!(fault.kind, FaultKind::Syntax(_)), "{fault:?}");
        assert_eq!((fault.line, fault.column), (3, 15));
        assert!(entries.next_entry().unwrap().is_none());

        let mut entries = Entries::new(&b"{\"users\":[{\"id\":\"a\"},"[..], 1024);
        assert!(entries.next_entry().unwrap().is_some());
        let fault = entries.next_entry().err().unwrap();
        assert!(matches!(fault.kind, FaultKind::Eof), "{fault:?}");
        assert_eq!(fault.offset, 21);
    }

    #[test]
    fn escaped_keys_are_read_as_json_reads_them() {
        let text = br#"{"us\u0065rs":[{}],"user":[1]}"#;
        let mut entries = Entries::new(&text[..], 1024);
        assert_eq!(
            entries.next_entry().unwrap().unwrap().bytes,
            Some(&b"{}"[..])
        );
        assert!(entries.next_entry().unwrap().is_none());
    }
}
