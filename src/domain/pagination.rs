//! Opaque cursors for `?limit=&cursor=` pagination. A cursor is the id of the
//! last item of the previous page; ids are UUIDv7, so id order is creation order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

pub fn encode_cursor(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last_id}"))
}

/// The id a cursor points after, or `None` when the cursor is not one of ours.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix("v1:")?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(id.to_string())
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
        assert_eq!(decode_cursor(&encode_cursor(id)).as_deref(), Some(id));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v1:nope")), None);
    }
}
