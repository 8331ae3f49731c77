//! The JSON API's second-step challenges (`login_2fa_token`): what the password step of a
//! 2FA account buys, single-use, for five minutes, bound to the account's security stamp.
//! Only a hash of the challenge is stored.

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::schema::login_challenges;

pub const CHALLENGE_SECONDS: i64 = 300;

/// A waiting challenge, as found by its plaintext.
pub struct Challenge {
    hash: String,
    pub user_id: i32,
    /// The account's stamp at the password step: a change since ends the challenge.
    pub stamp: String,
}

/// Opens a challenge for `user` and returns its plaintext (given to the client once).
pub fn open(conn: &mut Conn, user: &User, now: Timestamp) -> Result<String, Error> {
    let token = crate::keys::random_token(32);
    diesel::insert_into(login_challenges::table)
        .values((
            login_challenges::token_hash.eq(crate::keys::sha256_hex(token.as_bytes())),
            login_challenges::user_id.eq(user.id),
            login_challenges::expires_at.eq(now + CHALLENGE_SECONDS),
            login_challenges::security_stamp.eq(&user.security_stamp),
        ))
        .execute(conn)?;
    Ok(token)
}

/// The unexpired challenge `token` names, if any.
pub fn find(conn: &mut Conn, token: &str, now: Timestamp) -> Result<Option<Challenge>, Error> {
    let hash = crate::keys::sha256_hex(token.as_bytes());
    let found: Option<(i32, String)> = login_challenges::table
        .find(&hash)
        .filter(login_challenges::expires_at.gt(now))
        .select((login_challenges::user_id, login_challenges::security_stamp))
        .first(conn)
        .optional()?;
    Ok(found.map(|(user_id, stamp)| Challenge { hash, user_id, stamp }))
}

/// Spends the challenge: true for the one caller whose DELETE removed it, so two parallel
/// completions cannot both win.
pub fn spend(conn: &mut Conn, challenge: &Challenge) -> Result<bool, Error> {
    Ok(diesel::delete(login_challenges::table.find(&challenge.hash)).execute(conn)? == 1)
}

/// Forgets expired challenges (run with the session purge).
pub fn purge_expired(conn: &mut Conn, now: Timestamp) -> Result<usize, Error> {
    Ok(diesel::delete(login_challenges::table.filter(login_challenges::expires_at.le(now))).execute(conn)?)
}
