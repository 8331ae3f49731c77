//! Accounts: users, their plans, and the rules for usernames, emails and passwords.
//! Plain synchronous functions over a connection; handlers call them through `web::block`.

pub mod password;

use std::fmt;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::{sessions, users};
/// Plans belong to owners (a user's own namespace holds the user's plan).
pub use crate::owners::Plan;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub username: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub is_operator: bool,
    pub is_disabled: bool,
    pub security_stamp: String,
    pub created_at: Timestamp,
    /// Confirmed second factors held (kept by `twofactor`): 2FA is on while it is above 0.
    pub second_factor_count: i64,
}

// Hand-written so a stray `{:?}` never prints a hash or a sealed secret.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

impl User {
    /// Is two-factor authentication on: does the account hold a confirmed second factor?
    /// Then the password alone works nowhere.
    pub fn has_second_factor(&self) -> bool {
        self.second_factor_count > 0
    }
}

/// Docker Hub's rule: 4–30 characters, lowercase letters and digits, starting with a letter.
/// Input is lower-cased first.
pub fn normalize_username(input: &str) -> Result<String, Error> {
    let name = input.trim().to_lowercase();
    let len = name.chars().count();
    if !(4..=30).contains(&len) {
        return Err(Error::invalid_field("username", "Use 4 to 30 characters."));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(Error::invalid_field("username", "Use only letters a–z and digits."));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(Error::invalid_field("username", "Start with a letter."));
    }
    Ok(name)
}

/// Namespace names nobody may sign up with: they name Berth's own pages, its operators or
/// the registry's conventions (`library` holds official images), so an account called
/// `admin` or `support` could pass for Berth itself. Operators may still create them with
/// `berth user add`. The one list for every kind of namespace.
pub const RESERVED_NAMES: &[&str] = &[
    "library",
    "admin",
    "administrator",
    "root",
    "token",
    "tokens",
    "registry",
    "berth",
    "support",
    "security",
    "help",
    "login",
    "logout",
    "signup",
    "settings",
    "repositories",
    "static",
    "healthz",
    "docker",
    "official",
    "operator",
    "system",
];

/// Refuses a reserved namespace name (already normalised).
pub fn check_not_reserved(name: &str) -> Result<(), Error> {
    if RESERVED_NAMES.contains(&name) {
        return Err(Error::invalid_field("username", "This name is reserved. Choose another one."));
    }
    Ok(())
}

/// A deliberately plain check: one `@`, something on each side, a dot in the domain, no
/// spaces or angle brackets. Returns (as typed, lower-cased for uniqueness).
pub fn normalize_email(input: &str) -> Result<(String, String), Error> {
    let email = input.trim();
    if email.is_empty() {
        return Err(Error::invalid_field("email", "Enter your email address."));
    }
    if email.len() > 254 {
        return Err(Error::invalid_field("email", "That email address is too long."));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c))
        }
        None => false,
    };
    if !valid {
        return Err(Error::invalid_field("email", "Enter a valid email address, like name@example.com."));
    }
    Ok((email.to_string(), email.to_lowercase()))
}

pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub plan: Plan,
    pub operator: bool,
}

/// Creates a user and the user's own namespace (an owner named as the user, holding the
/// plan). Uniqueness is checked and written in one immediate transaction, and the unique
/// indexes are the last word if two sign-ups race anyway: either way a taken name or
/// address is `Error::Taken("username" | "email")` (a name an owner holds is a taken
/// username).
pub fn create(conn: &mut Conn, new: NewAccount, now: Timestamp) -> Result<User, Error> {
    crate::db::write_tx(conn, |conn| {
        if find_by_username(conn, &new.username)?.is_some() {
            return Err(Error::Taken("username"));
        }
        if email_taken(conn, &new.email_normalized, None)? {
            return Err(Error::Taken("email"));
        }
        let user = diesel::insert_into(users::table)
            .values((
                users::username.eq(&new.username),
                users::email.eq(&new.email),
                users::email_normalized.eq(&new.email_normalized),
                users::password_hash.eq(&new.password_hash),
                users::is_operator.eq(new.operator),
                users::security_stamp.eq(crate::keys::random_token(16)),
                users::created_at.eq(now),
            ))
            .returning(users::id)
            .get_result::<i32>(conn)?;
        // `MultiConnection` returns columns, not a `Selectable` struct: the row is read back
        let user = users::table.find(user).select(User::as_select()).first(conn)?;
        crate::owners::create_for_user(conn, user.id, &user.username, new.plan, now).map_err(|e| match e {
            Error::Taken(_) => Error::Taken("username"),
            other => other,
        })?;
        Ok(user)
    })
}

pub fn find_by_id(conn: &mut Conn, id: i32) -> Result<Option<User>, Error> {
    Ok(users::table.find(id).select(User::as_select()).first(conn).optional()?)
}

pub fn find_by_username(conn: &mut Conn, username: &str) -> Result<Option<User>, diesel::result::Error> {
    // no name holds a NUL, and PostgreSQL's text cannot carry one into the query
    if username.contains('\0') {
        return Ok(None);
    }
    users::table.filter(users::username.eq(username.trim().to_lowercase())).select(User::as_select()).first(conn).optional()
}

/// The login form takes a username or an email address.
pub fn find_by_login(conn: &mut Conn, login: &str) -> Result<Option<User>, Error> {
    let login = login.trim();
    let found = if login.contains('\0') {
        None // as in `find_by_username`
    } else if login.contains('@') {
        users::table.filter(users::email_normalized.eq(login.to_lowercase())).select(User::as_select()).first(conn).optional()?
    } else {
        find_by_username(conn, login)?
    };
    Ok(found)
}

fn email_taken(conn: &mut Conn, normalized: &str, except: Option<i32>) -> Result<bool, diesel::result::Error> {
    let mut q = users::table.filter(users::email_normalized.eq(normalized)).select(users::id).into_boxed();
    if let Some(id) = except {
        q = q.filter(users::id.ne(id));
    }
    Ok(q.first::<i32>(conn).optional()?.is_some())
}

pub fn list(conn: &mut Conn) -> Result<Vec<User>, Error> {
    Ok(users::table.order(users::username.asc()).select(User::as_select()).load(conn)?)
}

/// Sets a new password hash and a new security stamp. Ends every session of the user
/// except `keep_session` (a public session id), which the caller renews.
pub fn set_password(conn: &mut Conn, user_id: i32, new_hash: &str, keep_session: Option<&str>) -> Result<usize, Error> {
    crate::db::write_tx(conn, |conn| {
        diesel::update(users::table.find(user_id)).set((users::password_hash.eq(new_hash), users::security_stamp.eq(crate::keys::random_token(16)))).execute(conn)?;
        let ended = match keep_session {
            Some(keep) => {
                diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::public_id.ne(keep).or(sessions::public_id.is_null()))).execute(conn)?
            }
            None => diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?,
        };
        Ok(ended)
    })
}

pub fn set_email(conn: &mut Conn, user_id: i32, email: &str, normalized: &str) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        if email_taken(conn, normalized, Some(user_id))? {
            return Err(Error::Taken("email"));
        }
        diesel::update(users::table.find(user_id)).set((users::email.eq(email), users::email_normalized.eq(normalized))).execute(conn)?;
        Ok(())
    })
}

/// Sets the plan of the user's own namespace.
pub fn set_plan(conn: &mut Conn, user_id: i32, plan: Plan) -> Result<(), Error> {
    crate::owners::set_plan_of_user(conn, user_id, plan)
}

pub fn set_operator(conn: &mut Conn, user_id: i32, on: bool) -> Result<(), Error> {
    diesel::update(users::table.find(user_id)).set(users::is_operator.eq(on)).execute(conn)?;
    Ok(())
}

/// Disabling ends every session and changes the stamp; enabling only lifts the flag.
pub fn set_disabled(conn: &mut Conn, user_id: i32, disabled: bool) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        if disabled {
            diesel::update(users::table.find(user_id)).set((users::is_disabled.eq(true), users::security_stamp.eq(crate::keys::random_token(16)))).execute(conn)?;
            diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?;
        } else {
            diesel::update(users::table.find(user_id)).set(users::is_disabled.eq(false)).execute(conn)?;
        }
        Ok(())
    })
}

/// Deletes an account: its own namespace with its tokens and repository records, its
/// sessions, second factors and activity, its memberships, team places, collaborations and
/// invitations. Refused while the user is the only owner of an organization. The username
/// stays reserved (`owners::reserve`): neither a new account nor an organization may take
/// it, so nobody inherits the images still stored under it, until an operator releases it.
pub fn delete(conn: &mut Conn, user_id: i32, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user_id)?;
        let user = find_by_id(conn, user_id)?.ok_or(Error::NotFound)?;
        // the organizations are locked in the name order `solely_owned_by` reads them, so
        // two owners deleting their accounts at once cannot both leave an organization
        // without an owner
        for (org, role) in memberships(conn, user_id)? {
            if role == crate::owners::Role::Owner {
                crate::db::lock_owner(conn, org)?;
            }
        }
        let sole = crate::owners::solely_owned_by(conn, user_id)?;
        if !sole.is_empty() {
            return Err(Error::Denied(
                format!("You are the only owner of {}: make another member an owner, or delete the organization, before deleting your account.", sole.join(", ")).into(),
            ));
        }
        crate::owners::reserve(conn, &user.username, now)?;
        diesel::delete(users::table.find(user_id)).execute(conn)?;
        Ok(())
    })
}

/// The organizations (owner ids, by name) the user belongs to, with the role.
fn memberships(conn: &mut Conn, user_id: i32) -> Result<Vec<(i32, crate::owners::Role)>, Error> {
    use crate::db::schema::{org_members, owners};
    let rows: Vec<(i32, String)> =
        org_members::table.inner_join(owners::table).filter(org_members::user_id.eq(user_id)).order(owners::name.asc()).select((owners::id, org_members::role)).load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, role)| Some((id, role.parse().ok()?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_docker_hubs_rule() {
        assert_eq!(normalize_username("Alice").unwrap(), "alice");
        assert_eq!(normalize_username(" bob42 ").unwrap(), "bob42");
        assert!(normalize_username("abc").is_err());
        assert!(normalize_username(&"a".repeat(31)).is_err());
        assert!(normalize_username(&"a".repeat(30)).is_ok());
        assert!(normalize_username("1abc").is_err());
        assert!(normalize_username("ab_cd").is_err());
        assert!(normalize_username("abçd").is_err());
        assert!(normalize_username("<script>").is_err());
        assert!(normalize_username("a'; DROP TABLE users;--").is_err());
    }

    #[test]
    fn emails_are_checked_plainly_and_compared_lowercased() {
        assert_eq!(normalize_email(" Alice@Example.COM ").unwrap(), ("Alice@Example.COM".into(), "alice@example.com".into()));
        for bad in ["", "alice", "alice@", "@example.com", "alice@example", "a b@example.com", "a@b@c.com", "<a>@x.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
