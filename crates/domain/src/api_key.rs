//! API keys: who may call the service, and for what.
//!
//! A key reads `ord_<id>_<secret>`: the id (16 hex digits) is public and
//! names the key in logs and lists; the secret (256 random bits) is shown
//! once, when the key is made, and only its SHA-256 is kept. High-entropy
//! secrets need no slow hash: guessing one is as hard as guessing the bits.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::parse::{ParseError, check_chars};
use crate::time::Timestamp;

/// What a key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read orders, their status and their events.
    OrdersRead,
    /// Create orders and change their status; implies [`Scope::OrdersRead`],
    /// since a writer is shown the order it wrote anyway.
    OrdersWrite,
    /// Manage API keys. Grants no access to orders by itself.
    Admin,
    /// Scrape `/metrics`: counts and latencies, never customer data, so a
    /// monitoring system's key needs nothing else.
    MetricsRead,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 4] = [Scope::OrdersRead, Scope::OrdersWrite, Scope::Admin, Scope::MetricsRead];

    /// The name on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::Admin => "admin",
            Scope::MetricsRead => "metrics:read",
        }
    }

    /// Reads a scope name.
    pub fn parse(name: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or(ParseError::OneOf("orders:read, orders:write, admin, metrics:read"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a key was given: at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Every scope (the first key a server makes).
    pub fn all() -> Self {
        Self(Scope::ALL.into_iter().collect())
    }

    /// At least one scope; repeats count once.
    pub fn parse(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, ParseError> {
        let set: BTreeSet<Scope> = scopes.into_iter().collect();
        if set.is_empty() {
            return Err(ParseError::Length { min: 1, max: Scope::ALL.len(), unit: "distinct scopes" });
        }
        Ok(Self(set))
    }

    /// Whether these scopes allow what `needed` allows.
    pub fn grant(&self, needed: Scope) -> bool {
        self.0.contains(&needed) || (needed == Scope::OrdersRead && self.0.contains(&Scope::OrdersWrite))
    }

    /// The scopes, in [`Scope::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

/// The public part of a key: 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    const LEN: usize = 16;

    /// Checks the form.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.len() != Self::LEN || !raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(ParseError::Pattern("must be 16 lowercase hexadecimal digits"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a person calls a key: 1..=100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Most characters in a name.
    pub const MAX_CHARS: usize = 100;

    /// Trims, then checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let name = raw.trim();
        check_chars(name, 1, Self::MAX_CHARS)?;
        if name.chars().any(char::is_control) {
            return Err(ParseError::ControlCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name of the key a server makes on its first start.
    pub(crate) fn initial() -> Self {
        Self("initial key".to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a whole key, the only form in which a key is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// From stored bytes; `None` if they are not a SHA-256.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compared in constant time, so timing tells nothing about a secret.
    fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

/// A whole key as a client sends it. Never logged: it has no `Display`, and
/// its `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    id: ApiKeyId,
    hash: KeyHash,
}

impl Token {
    const PREFIX: &'static str = "ord_";
    const SECRET_LEN: usize = 43;

    /// Reads `ord_<id>_<secret>`; anything else is not a key.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(Self::PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let well_formed = secret.len() == Self::SECRET_LEN
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let id = ApiKeyId::parse(id).ok()?;
        well_formed.then(|| Self { id, hash: KeyHash::of(raw) })
    }

    /// The public part.
    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}, ..)", self.id)
    }
}

/// The operating system gave no randomness.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available for a new key: {0}")]
pub struct NoRandomness(pub(crate) String);

/// A key just made: the only time its secret exists outside the client.
pub struct IssuedKey {
    /// What is stored.
    pub key: StoredKey,
    /// What the client is given, once.
    pub secret: String,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey").field("key", &self.key).finish_non_exhaustive()
    }
}

impl IssuedKey {
    /// Makes a key with a fresh id and secret.
    pub fn generate(name: KeyName, scopes: Scopes, now: Timestamp) -> Result<Self, NoRandomness> {
        let mut bytes = [0u8; 8 + 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        let id: String = bytes[..8].iter().map(|b| format!("{b:02x}")).collect();
        let secret = format!("{}{id}_{}", Token::PREFIX, URL_SAFE_NO_PAD.encode(&bytes[8..]));
        let id = ApiKeyId(id);
        let key = ApiKey { id, name, scopes, created_at: now, revoked_at: None, last_used_at: None };
        Ok(Self { key: StoredKey { hash: KeyHash::of(&secret), key }, secret })
    }
}

/// A key as lists show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: KeyName,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    /// Set once; a revoked key is refused by every process within seconds.
    pub revoked_at: Option<Timestamp>,
    /// Kept up to date within seconds, not on every request.
    pub last_used_at: Option<Timestamp>,
}

/// A key with the hash it is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub key: ApiKey,
    pub hash: KeyHash,
}

/// Who is calling, once their key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: ApiKeyId,
    pub scopes: Scopes,
}

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No key, or one that is malformed, unknown or revoked: the same answer
    /// for each, so a caller learns nothing about which keys exist.
    #[error("a valid API key is required")]
    Unauthenticated,
    /// A valid key without the scope the operation needs.
    #[error("this API key lacks the {0} scope")]
    InsufficientScope(Scope),
}

/// The keys this process accepts, kept in memory so that checking a request
/// costs no database round trip; refreshed from storage every few seconds.
#[derive(Debug, Default)]
pub struct KeyRing {
    state: RwLock<RingState>,
    used: Mutex<HashMap<ApiKeyId, Timestamp>>,
}

#[derive(Debug, Default)]
struct RingState {
    active: HashMap<ApiKeyId, (KeyHash, Scopes)>,
    /// Keys this process made or revoked, numbered: a reload replays those
    /// its read of storage may have missed, so none is undone by it.
    changes: Vec<(u64, Change)>,
    last: u64,
}

#[derive(Debug, Clone)]
enum Change {
    Accept(ApiKeyId, KeyHash, Scopes),
    Refuse(ApiKeyId),
}

impl RingState {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Accept(id, hash, scopes) => {
                self.active.insert(id.clone(), (hash.clone(), scopes.clone()));
            }
            Change::Refuse(id) => {
                self.active.remove(id);
            }
        }
    }

    fn record(&mut self, change: Change) {
        self.apply(&change);
        self.last += 1;
        self.changes.push((self.last, change));
    }
}

/// Where a reload starts: changes after it are replayed over what it read.
#[derive(Debug, Clone, Copy)]
pub struct RingMark(u64);

impl KeyRing {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RingState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RingState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks a bearer credential (`None` when there was none) for `needed`.
    pub fn authorize(&self, credential: Option<&str>, needed: Scope) -> Result<Caller, AccessError> {
        let token = credential.and_then(Token::parse).ok_or(AccessError::Unauthenticated)?;
        let scopes = {
            let state = self.read();
            let (hash, scopes) = state.active.get(token.id()).ok_or(AccessError::Unauthenticated)?;
            if !hash.matches(&token.hash) {
                return Err(AccessError::Unauthenticated);
            }
            scopes.clone()
        };
        self.used.lock().unwrap_or_else(PoisonError::into_inner).insert(token.id.clone(), Timestamp::now());
        if !scopes.grant(needed) {
            return Err(AccessError::InsufficientScope(needed));
        }
        Ok(Caller { key_id: token.id, scopes })
    }

    /// Taken before reading storage for [`KeyRing::replace`].
    pub fn mark(&self) -> RingMark {
        RingMark(self.read().last)
    }

    /// Replaces the accepted keys with storage's (revoked keys are left
    /// out), read after `mark`; this process's own changes since then are
    /// kept, since the read may have missed them.
    pub fn replace(&self, keys: impl IntoIterator<Item = StoredKey>, mark: RingMark) {
        let active = keys
            .into_iter()
            .filter(|stored| stored.key.revoked_at.is_none())
            .map(|stored| (stored.key.id, (stored.hash, stored.key.scopes)))
            .collect();
        let mut state = self.write();
        state.active = active;
        // Changes up to the mark were stored before the read began.
        state.changes.retain(|(number, _)| *number > mark.0);
        let missed: Vec<Change> = state.changes.iter().map(|(_, change)| change.clone()).collect();
        for change in &missed {
            state.apply(change);
        }
    }

    /// Accepts a key at once (one this process just stored).
    pub fn accept(&self, stored: &StoredKey) {
        let change = Change::Accept(stored.key.id.clone(), stored.hash.clone(), stored.key.scopes.clone());
        self.write().record(change);
    }

    /// Refuses a key at once (one this process just revoked).
    pub fn refuse(&self, id: &ApiKeyId) {
        self.write().record(Change::Refuse(id.clone()));
    }

    /// The keys used since the last call, with when each was last used.
    pub fn take_used(&self) -> Vec<(ApiKeyId, Timestamp)> {
        self.used.lock().unwrap_or_else(PoisonError::into_inner).drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(scopes: &[Scope]) -> IssuedKey {
        IssuedKey::generate(
            KeyName::parse("ci").unwrap(),
            Scopes::parse(scopes.iter().copied()).unwrap(),
            Timestamp::now(),
        )
        .unwrap()
    }

    #[test]
    fn a_key_has_a_public_id_and_256_secret_bits() {
        let key = issued(&[Scope::OrdersRead]);
        assert!(key.secret.starts_with(&format!("ord_{}_", key.key.key.id)));
        assert_eq!(key.secret.len(), 4 + 16 + 1 + 43);
        let token = Token::parse(&key.secret).unwrap();
        assert_eq!(token.hash, key.key.hash);
        assert!(!format!("{token:?}{key:?}").contains(&key.secret[21..]), "Debug never shows the secret");
        assert_ne!(issued(&[Scope::OrdersRead]).secret, key.secret);
    }

    #[test]
    fn only_the_exact_form_is_a_key() {
        let key = issued(&[Scope::Admin]).secret;
        for bad in [
            "",
            "ord_",
            &key[4..],
            &format!("{key}x"),
            &key[..key.len() - 1],
            &key.replace("ord_", "ORD_"),
            &format!("{key} "),
            &"ord_".repeat(1000),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_ring_checks_secret_scope_and_revocation() {
        let ring = KeyRing::default();
        let reader = issued(&[Scope::OrdersRead]);
        let writer = issued(&[Scope::OrdersWrite]);
        ring.replace([reader.key.clone(), writer.key.clone()], ring.mark());
        assert!(ring.authorize(Some(&reader.secret), Scope::OrdersRead).is_ok());
        assert_eq!(
            ring.authorize(Some(&reader.secret), Scope::OrdersWrite),
            Err(AccessError::InsufficientScope(Scope::OrdersWrite))
        );
        assert!(ring.authorize(Some(&writer.secret), Scope::OrdersRead).is_ok(), "write implies read");
        assert_eq!(
            ring.authorize(Some(&writer.secret), Scope::Admin),
            Err(AccessError::InsufficientScope(Scope::Admin))
        );
        // Same id, other secret: unknown.
        let forged = format!("{}{}", &reader.secret[..21], "A".repeat(43));
        assert_eq!(ring.authorize(Some(&forged), Scope::OrdersRead), Err(AccessError::Unauthenticated));
        assert_eq!(ring.authorize(None, Scope::OrdersRead), Err(AccessError::Unauthenticated));
        ring.refuse(&reader.key.key.id);
        assert_eq!(ring.authorize(Some(&reader.secret), Scope::OrdersRead), Err(AccessError::Unauthenticated));
        let used: Vec<_> = ring.take_used().into_iter().map(|(id, _)| id).collect();
        assert!(used.contains(&reader.key.key.id) && used.contains(&writer.key.key.id));
        assert!(ring.take_used().is_empty());
    }

    #[test]
    fn a_reload_keeps_changes_made_while_it_read() {
        let ring = KeyRing::default();
        let old = issued(&[Scope::OrdersRead]);
        ring.replace([old.key.clone()], ring.mark());
        let mark = ring.mark();
        // While storage is read, this process makes one key and revokes another.
        let new = issued(&[Scope::OrdersRead]);
        ring.accept(&new.key);
        ring.refuse(&old.key.key.id);
        ring.replace([old.key.clone()], mark);
        assert!(ring.authorize(Some(&new.secret), Scope::OrdersRead).is_ok(), "the new key stays");
        assert!(ring.authorize(Some(&old.secret), Scope::OrdersRead).is_err(), "the revoked key stays out");
        // The next reload, which read storage after both, owes them nothing.
        ring.replace([new.key.clone()], ring.mark());
        assert!(ring.authorize(Some(&new.secret), Scope::OrdersRead).is_ok());
    }

    #[test]
    fn scopes_and_names_are_parsed() {
        assert_eq!(Scope::parse("orders:write"), Ok(Scope::OrdersWrite));
        assert!(Scope::parse("orders:delete").is_err());
        assert!(Scopes::parse([]).is_err());
        assert_eq!(Scopes::parse([Scope::Admin, Scope::Admin]).unwrap().iter().count(), 1);
        assert_eq!(KeyName::parse("  ci  ").unwrap().as_str(), "ci");
        assert!(KeyName::parse("").is_err());
        assert!(KeyName::parse("a\nb").is_err());
    }
}
