//! Cache keys: SHA-256 over every input that decides a cached value, each
//! field tagged and length-prefixed so no two different inputs hash the
//! same bytes (`"ab" + "c"` is not `"a" + "bc"`, `Int(1)` is not
//! `Text("1")`).

use aws_lc_rs::digest;

use crate::query::SqlValue;

/// A cache key: a SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// Lowercase hex, for an external store's key names.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
        }
        out
    }
}

/// Builds a [`Key`] field by field.
pub struct KeyBuilder(digest::Context);

impl KeyBuilder {
    /// `domain` names what the key is for, so keys of different caches
    /// never meet.
    pub fn new(domain: &str) -> KeyBuilder {
        let mut b = KeyBuilder(digest::Context::new(&digest::SHA256));
        b.bytes(0, domain.as_bytes());
        b
    }

    pub fn bytes(&mut self, tag: u8, bytes: &[u8]) -> &mut Self {
        self.0.update(&[tag]);
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn str(&mut self, tag: u8, s: &str) -> &mut Self {
        self.bytes(tag, s.as_bytes())
    }

    pub fn pairs(&mut self, tag: u8, pairs: &[(String, String)]) -> &mut Self {
        self.bytes(tag, &(pairs.len() as u64).to_le_bytes());
        for (k, v) in pairs {
            self.str(b'k', k).str(b'v', v);
        }
        self
    }

    /// Every bound value with its type: `1` and `'1'` bind differently.
    pub fn params(&mut self, tag: u8, params: &[SqlValue]) -> &mut Self {
        self.bytes(tag, &(params.len() as u64).to_le_bytes());
        for p in params {
            match p {
                SqlValue::Null => self.bytes(b'n', &[]),
                SqlValue::Bool(b) => self.bytes(b'b', &[u8::from(*b)]),
                SqlValue::Int(i) => self.bytes(b'i', &i.to_le_bytes()),
                SqlValue::Float(f) => self.bytes(b'f', &f.to_bits().to_le_bytes()),
                SqlValue::Text(s) => self.str(b't', s),
            };
        }
        self
    }

    pub fn finish(self) -> Key {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Key(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(f: impl FnOnce(&mut KeyBuilder)) -> Key {
        let mut b = KeyBuilder::new("test");
        f(&mut b);
        b.finish()
    }

    #[test]
    fn fields_are_framed_so_moved_bytes_change_the_key() {
        assert_ne!(
            key(|b| {
                b.str(1, "ab").str(1, "c");
            }),
            key(|b| {
                b.str(1, "a").str(1, "bc");
            })
        );
        assert_eq!(
            key(|b| {
                b.str(1, "ab");
            }),
            key(|b| {
                b.str(1, "ab");
            })
        );
    }

    #[test]
    fn a_parameter_keeps_its_type_in_the_key() {
        let int = key(|b| {
            b.params(1, &[SqlValue::Int(1)]);
        });
        let text = key(|b| {
            b.params(1, &[SqlValue::Text("1".into())]);
        });
        let float = key(|b| {
            b.params(1, &[SqlValue::Float(1.0)]);
        });
        assert_ne!(int, text);
        assert_ne!(int, float);
        assert_ne!(
            key(|b| {
                b.params(1, &[SqlValue::Null]);
            }),
            key(|b| {
                b.params(1, &[]);
            })
        );
    }

    #[test]
    fn settings_are_pairs_not_a_flat_list() {
        let one = key(|b| {
            b.pairs(1, &[("a".into(), "b".into()), ("c".into(), "d".into())]);
        });
        let other = key(|b| {
            b.pairs(1, &[("a".into(), "b,c".into()), ("".into(), "d".into())]);
        });
        assert_ne!(one, other);
        assert_eq!(Key([0xab; 32]).hex().len(), 64);
        assert!(Key([0xab; 32]).hex().starts_with("abab"));
    }
}
