//! Cursors for `?limit=&cursor=` pagination. A cursor is the id of the last
//! item of the previous page (ids are UUIDv7, so id order is creation order),
//! written as 32 lowercase hex digits. Its shape is documented
//! ([`CURSOR_PATTERN`]) and every string of that shape is accepted: a cursor
//! that names no item still marks a position, and the page after it may be
//! empty. Anything else is a 422.

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// The documented shape of a cursor (the `pattern` of the `cursor` parameters
/// and of `next_cursor`).
pub const CURSOR_PATTERN: &str = "^[0-9a-f]{32}$";
/// The length of a cursor.
pub const CURSOR_LEN: usize = 32;

/// Whether `text` is exactly `len` lowercase hex digits.
pub fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn encode_cursor(last_id: &str) -> String {
    match uuid::Uuid::parse_str(last_id) {
        Ok(id) => id.simple().to_string(),
        // Ids are always UUIDs; should one not be, the cursor is still of the
        // documented shape and the listing simply starts over.
        Err(_) => "0".repeat(CURSOR_LEN),
    }
}

/// The id a cursor points after, or `None` when the cursor is not of the
/// documented shape.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    if !is_lower_hex(cursor, CURSOR_LEN) {
        return None;
    }
    uuid::Uuid::parse_str(cursor)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

/// Given `limit + 1` rows fetched, the page to return and the cursor of the next one.
pub fn split_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id_of: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode_cursor(id_of(r)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10";
        let cursor = encode_cursor(id);
        assert_eq!(cursor, "0193a0c47a4e7d3c9b9e3f1f0f3a2b10");
        assert_eq!(decode_cursor(&cursor).as_deref(), Some(id));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&"0".repeat(200)), None);
        assert_eq!(decode_cursor("0193A0C47A4E7D3C9B9E3F1F0F3A2B10"), None);
        // Every value of the documented shape is accepted.
        assert_eq!(
            decode_cursor(&"0".repeat(32)).as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any text is a cursor of the documented shape or refused; never a panic.
        #[test]
        fn any_text_is_a_position_or_refused(text in ".{0,80}") {
            let decoded = decode_cursor(&text);
            prop_assert_eq!(decoded.is_some(), is_lower_hex(&text, CURSOR_LEN));
        }

        /// Every cursor of the documented shape round-trips.
        #[test]
        fn every_documented_cursor_round_trips(cursor in "[0-9a-f]{32}") {
            let id = decode_cursor(&cursor).unwrap();
            prop_assert_eq!(encode_cursor(&id), cursor);
        }
    }
}
