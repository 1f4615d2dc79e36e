//! The request path a gateway forwards, normalised once so a route rule
//! cannot be walked around: RFC 3986 section 6.2.2 (percent-encoding, then
//! dot segments), plus `//` collapsed.
//!
//! - `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded;
//!   any other `%XX` stays encoded, hex upper-cased.
//! - A percent-encoded `/` or `\` (`%2F`, `%5C`) or control byte is refused:
//!   upstreams disagree on whether `%2F` separates segments, so no reading
//!   of it is safe to judge by.
//! - `.` segments are dropped, `..` removes the segment before it; a `..`
//!   that would climb above the root is refused, not clamped.
//! - `;` parameters (`/admin;jsessionid=1`): servers such as Tomcat drop
//!   them per segment, so [`covers`] compares segment names without them,
//!   and a parameter on an empty, `.` or `..` segment (`/..;/admin`, which
//!   Tomcat reads as `/../admin`) is refused.
//! - Bytes a path cannot hold raw (controls, space, non-ASCII, `\`, `"`,
//!   `<`, `>`, `#`, ...) are refused, as is a `%` not followed by two hex
//!   digits. A fragment never travels in a request, so one here is hostile.
//!
//! Pure: no I/O; unit-tested with hostile paths below.

/// Why a forwarded path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    BadByte,
    BadPercent,
    EncodedSeparator,
    DotSegmentParams,
    EscapesRoot,
}

impl PathError {
    pub fn describe(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the forwarded URI is not an absolute path",
            PathError::BadByte => "the forwarded URI holds a byte a path cannot hold",
            PathError::BadPercent => "the forwarded URI holds a bad percent-encoding",
            PathError::EncodedSeparator => "the forwarded URI holds a percent-encoded /, \\ or control byte",
            PathError::DotSegmentParams => "the forwarded URI holds a ; parameter on an empty, . or .. segment",
            PathError::EscapesRoot => "the forwarded URI climbs above the root",
        }
    }
}

/// The path part of a forwarded URI (`/a/b?x=1` -> `/a/b`), normalised.
pub fn normalize(uri: &str) -> Result<String, PathError> {
    let path = uri.split('?').next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    // Whether the normalised path ends with `/` (`/a/`, `/a/.`, `/a/b/..`).
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        trailing = false;
        if let Some((name, _params)) = seg.split_once(';')
            && matches!(name, "" | "." | "..")
        {
            return Err(PathError::DotSegmentParams);
        }
        match *seg {
            "" => trailing = i == last,
            "." => trailing = true,
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                trailing = true;
            }
            s => out.push(s),
        }
    }
    let mut norm = String::with_capacity(decoded.len());
    for s in &out {
        norm.push('/');
        norm.push_str(s);
    }
    if trailing || out.is_empty() {
        norm.push('/');
    }
    Ok(norm)
}

fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
            let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) else {
                return Err(PathError::BadPercent);
            };
            let c = (h * 16 + l) as u8;
            if matches!(c, b'/' | b'\\') || c.is_ascii_control() {
                return Err(PathError::EncodedSeparator);
            }
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(c as char);
            } else {
                out.push('%');
                out.push_str(&format!("{c:02X}"));
            }
            i += 3;
            continue;
        }
        // RFC 3986 pchar and `/`: unreserved, sub-delims, `:`, `@`.
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if !allowed {
            return Err(PathError::BadByte);
        }
        out.push(b as char);
        i += 1;
    }
    Ok(out)
}

/// Does `prefix` (already normal, without `;`) cover `path` on a segment
/// boundary? Segments are compared by name, their `;` parameters dropped:
/// `/admin` covers `/admin`, `/admin/`, `/admin/x`, `/admin;x` and
/// `/admin;x/y`, never `/administrator`; `/api/admin` covers `/api;x/admin`.
pub fn covers(prefix: &str, path: &str) -> bool {
    let mut names = path.split('/').skip(1).map(|seg| seg.split(';').next().unwrap_or(seg));
    prefix.split('/').filter(|s| !s.is_empty()).all(|want| names.next() == Some(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_normalise_to_what_a_server_would_serve() {
        for (raw, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b?x=/admin", "/a/b"),
            ("//admin", "/admin"),
            ("/public//..//admin", "/admin"),
            ("/public/../admin", "/admin"),
            ("/public/./../admin/", "/admin/"),
            ("/./admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("/%61dmin", "/admin"),
            ("/%41DMIN", "/ADMIN"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E./admin", "/admin"),
            ("/a%20b", "/a%20b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/pub;x/../admin", "/admin"),
            ("/admin;jsessionid=1", "/admin;jsessionid=1"),
            ("/a/b/../../", "/"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn paths_that_climb_above_the_root_or_hold_bad_bytes_are_refused() {
        for (raw, want) in [
            ("/..", PathError::EscapesRoot),
            ("/../admin", PathError::EscapesRoot),
            ("/a/../../admin", PathError::EscapesRoot),
            ("/%2e%2e/admin", PathError::EscapesRoot),
            ("admin", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("http://evil/admin", PathError::NotAbsolute),
            ("/a%2", PathError::BadPercent),
            ("/a%zz", PathError::BadPercent),
            ("/a b", PathError::BadByte),
            ("/a\\..\\admin", PathError::BadByte),
            ("/a\r\nX: y", PathError::BadByte),
            ("/caf\u{e9}", PathError::BadByte),
            ("/a\0", PathError::BadByte),
            ("/public#/../admin", PathError::BadByte),
            ("/public%2F..%2Fadmin", PathError::EncodedSeparator),
            ("/public%2f..%2fadmin", PathError::EncodedSeparator),
            ("/admin%5Cx", PathError::EncodedSeparator),
            ("/admin%00.html", PathError::EncodedSeparator),
            ("/admin%0d%0a", PathError::EncodedSeparator),
            ("/public/..;/admin", PathError::DotSegmentParams),
            ("/public/.;x/admin", PathError::DotSegmentParams),
            ("/;x/admin", PathError::DotSegmentParams),
        ] {
            assert_eq!(normalize(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries_only() {
        assert!(covers("/admin", "/admin"));
        assert!(covers("/admin", "/admin/"));
        assert!(covers("/admin/", "/admin/x"));
        assert!(covers("/admin", "/admin;x=1"));
        assert!(covers("/admin", "/admin;x=1/users"));
        assert!(covers("/api/admin", "/api;x/admin/users"));
        assert!(!covers("/api/admin", "/api/administrator"));
        assert!(!covers("/admin/users", "/admin"));
        assert!(!covers("/admin", "/administrator"));
        assert!(!covers("/admin", "/ADMIN"));
        assert!(covers("/", "/anything"));
    }
}
