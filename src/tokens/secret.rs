//! The token itself: a prefix naming its kind (`berth_pat_` for a personal access token,
//! `berth_oat_` for an organization's) + 32 random base62 characters + 6 base62 characters
//! of the CRC32 of the random part (GitHub's scheme: scanners recognise it, and a mistyped
//! token is refused without a database query). Only its SHA-256 is ever stored.

use std::fmt;

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "berth_pat_";
pub const ORG_PREFIX: &str = "berth_oat_";
const PREFIX_LEN: usize = PREFIX.len();
const RANDOM_LEN: usize = 32;
const CHECK_LEN: usize = 6;
pub const TOKEN_LEN: usize = PREFIX_LEN + RANDOM_LEN + CHECK_LEN;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whose a token is, as its prefix says: each kind is looked up in its own table, so the
/// prefix decides where a presented secret is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token (`berth_pat_`): a user's.
    Personal,
    /// An organization access token (`berth_oat_`): an organization's, of no user.
    Organization,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => PREFIX,
            TokenKind::Organization => ORG_PREFIX,
        }
    }

    /// The kind a presented string claims by its prefix (its checksum is not checked yet).
    pub fn of(candidate: &str) -> Option<TokenKind> {
        [TokenKind::Personal, TokenKind::Organization].into_iter().find(|k| candidate.starts_with(k.prefix()))
    }
}

// both prefixes are as long: the hint and the length rule hold for either
const _: () = assert!(ORG_PREFIX.len() == PREFIX_LEN);

/// A token in the clear. Exists between generation and the one page that shows it, and
/// between a request and its hash. `Debug` and `Display` print nothing secret.
pub struct PlainToken(String);

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken({}{}…)", &self.0[..PREFIX_LEN], self.hint())
    }
}

/// SHA-256 of the whole token: what the database stores and looks up.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

fn base62(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).expect("base62 is ASCII")
}

fn checksum(random: &str) -> String {
    base62(u64::from(crc32fast::hash(random.as_bytes())), CHECK_LEN)
}

impl PlainToken {
    /// A new personal access token from the OS random source.
    pub fn generate() -> PlainToken {
        PlainToken::generate_as(TokenKind::Personal)
    }

    /// A new token of `kind` from the OS random source (rejection sampling: no modulo bias).
    pub fn generate_as(kind: TokenKind) -> PlainToken {
        let mut random = String::with_capacity(RANDOM_LEN);
        while random.len() < RANDOM_LEN {
            let mut buf = [0u8; 64];
            crate::keys::fill_random(&mut buf);
            for b in buf {
                // 248 = 4 × 62: bytes above it would favour the first characters
                if b < 248 && random.len() < RANDOM_LEN {
                    random.push(BASE62[(b % 62) as usize] as char);
                }
            }
        }
        let check = checksum(&random);
        PlainToken(format!("{}{random}{check}", kind.prefix()))
    }

    /// A personal access token, as `parse_as` checks it.
    pub fn parse(candidate: &str) -> Option<PlainToken> {
        PlainToken::parse_as(TokenKind::Personal, candidate)
    }

    /// Checks prefix (that of `kind`), length, alphabet and checksum: a token failing here
    /// never reaches the database.
    pub fn parse_as(kind: TokenKind, candidate: &str) -> Option<PlainToken> {
        let rest = candidate.strip_prefix(kind.prefix())?;
        if rest.len() != RANDOM_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let (random, check) = rest.split_at(RANDOM_LEN);
        if checksum(random) != check {
            return None;
        }
        Some(PlainToken(candidate.to_string()))
    }

    /// Whether a string is shaped like a personal access token (used to tell a token from a
    /// password where either may be presented; `TokenKind::of` tells the kinds apart).
    pub fn looks_like_token(candidate: &str) -> bool {
        candidate.starts_with(PREFIX)
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The first 4 random characters, shown as `berth_pat_Ab12…`.
    pub fn hint(&self) -> &str {
        &self.0[PREFIX_LEN..PREFIX_LEN + 4]
    }

    /// The plaintext, for the one page that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn ten_thousand_tokens_match_the_pattern_and_are_unique() {
        let re = regex::Regex::new("^berth_pat_[0-9A-Za-z]{38}$").unwrap();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let t = PlainToken::generate();
            assert!(re.is_match(t.expose()));
            assert!(PlainToken::parse(t.expose()).is_some());
            assert!(seen.insert(t.expose().to_string()));
        }
    }

    #[test]
    fn organization_tokens_have_their_own_prefix_and_pass_only_as_their_kind() {
        let re = regex::Regex::new("^berth_oat_[0-9A-Za-z]{38}$").unwrap();
        for _ in 0..1_000 {
            let t = PlainToken::generate_as(TokenKind::Organization);
            assert!(re.is_match(t.expose()));
            assert_eq!(TokenKind::of(t.expose()), Some(TokenKind::Organization));
            assert!(PlainToken::parse_as(TokenKind::Organization, t.expose()).is_some());
            assert!(PlainToken::parse(t.expose()).is_none(), "an organization's token is no personal one");
            assert!(!PlainToken::looks_like_token(t.expose()));
        }
        let pat = PlainToken::generate();
        assert_eq!(TokenKind::of(pat.expose()), Some(TokenKind::Personal));
        assert!(PlainToken::parse_as(TokenKind::Organization, pat.expose()).is_none());
        // the checksum covers the random part only: the same body under the other prefix
        // passes the format of the other kind, but the stored hash is of the whole token,
        // prefix included, so it matches nothing
        let swapped = pat.expose().replacen(PREFIX, ORG_PREFIX, 1);
        let swapped = PlainToken::parse_as(TokenKind::Organization, &swapped).unwrap();
        assert_ne!(swapped.hash(), pat.hash());
        assert_eq!(TokenKind::of("password"), None);
        let shown = format!("{:?}", PlainToken::generate_as(TokenKind::Organization));
        assert!(shown.starts_with("PlainToken(berth_oat_"), "{shown}");
    }

    #[test]
    fn debug_prints_nothing_secret() {
        let t = PlainToken::generate();
        let shown = format!("{t:?} {:?}", t.hash());
        assert!(!shown.contains(&t.expose()[PREFIX.len() + 4..]));
        assert!(shown.contains(t.hint()));
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let t = PlainToken::generate();
        let mut s = t.expose().to_string().into_bytes();
        let i = PREFIX.len() + 7;
        s[i] = if s[i] == b'a' { b'b' } else { b'a' };
        assert!(PlainToken::parse(std::str::from_utf8(&s).unwrap()).is_none());
        assert!(PlainToken::parse(&t.expose()[..TOKEN_LEN - 1]).is_none());
        assert!(PlainToken::parse(&format!("{}x", t.expose())).is_none());
        assert!(PlainToken::parse(&t.expose().replace("berth_pat_", "berth_pot_")).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_well_formed_tokens(s in "\\PC{0,60}") {
            if let Some(t) = PlainToken::parse(&s) {
                prop_assert_eq!(t.expose().len(), TOKEN_LEN);
                prop_assert!(s.starts_with(PREFIX));
            }
        }

        #[test]
        fn random_bodies_with_the_prefix_almost_never_pass(body in "[0-9A-Za-z]{38}") {
            let s = format!("{PREFIX}{body}");
            if PlainToken::parse(&s).is_some() {
                let (random, check) = body.split_at(32);
                prop_assert_eq!(checksum(random), check);
            }
        }
    }
}
