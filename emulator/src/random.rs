//! Random values the emulator hands out: request ids, and the random parts of tokens.

/// `bytes` random bytes from the OS generator.
pub(crate) fn random_bytes(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    getrandom::fill(&mut out).expect("the OS random number generator is available");
    out
}

/// `bytes` random bytes as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A request id shaped like a UUID v4.
pub(crate) fn request_id() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 + (u8::from_str_radix(&h[16..17], 16).unwrap_or(0) & 3),
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
    }
}
