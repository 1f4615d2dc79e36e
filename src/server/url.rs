//! Percent-encoding for query strings (`?query=<json>`), both ways.

/// Encode everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decode `%XX` and `+` (a space, as forms send it); a malformed escape is
/// kept as written.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=%7B...%7D` to decoded pairs.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_percent_decoded() {
        let p = query_pairs("query=%7B%22measures%22%3A%5B%22Orders.count%22%5D%7D&queryType=multi&x=a+b&bad=%zz%");
        assert_eq!(p[0], ("query".into(), r#"{"measures":["Orders.count"]}"#.into()));
        assert_eq!(p[1], ("queryType".into(), "multi".into()));
        assert_eq!(p[2], ("x".into(), "a b".into()));
        assert_eq!(p[3], ("bad".into(), "%zz%".into()));
    }

    #[test]
    fn encoding_round_trips_any_text() {
        for s in ["{\"a\": [1, \"b c\"]}", "ünï ✓ % + &", ""] {
            assert_eq!(decode(&encode(s)), s);
        }
    }
}
