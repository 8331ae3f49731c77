//! Invitations to an organization, by username: an owner invites with a role and optionally
//! a team; the invitee accepts (becoming a member) or declines; an invitation expires after
//! seven days, and resending it gives it seven days more. An invitation stays valid when its
//! inviter later stops being an owner: the organization invited, not the person.

use diesel::prelude::*;

use super::events::{self, Action};
use super::{Actor, teams};
use crate::Error;
use crate::accounts::{self, User};
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{invitations, owners, teams as teams_table, users};
use crate::owners::{Owner, OwnerId, Role};

/// How long an invitation stays open.
pub const LIFETIME: Timestamp = 7 * 24 * 3600;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: i32,
    pub uuid: String,
    pub owner_id: i32,
    pub invitee_id: i32,
    pub inviter_id: Option<i32>,
    pub inviter_name: String,
    pub role: String,
    pub team_id: Option<i32>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Invitation {
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Member)
    }
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at <= now
    }
}

/// An invitation with the names a page or the API shows.
#[derive(Debug, Clone)]
pub struct Shown {
    pub invitation: Invitation,
    pub org: String,
    pub invitee: String,
    pub team: Option<String>,
}

/// What inviting one name did (or, on a dry run, would do).
#[derive(Debug, Clone)]
pub enum Outcome {
    Invited(Invitation),
    /// The user is a member already: nothing to do.
    AlreadyMember,
    /// An open invitation exists for them: nothing new.
    AlreadyInvited,
    /// No account of that name, a malformed name, or a disabled account: said in the same
    /// words, so the answer reveals nothing about who has an account.
    Invalid,
}

/// Invites `invitee` (a username) as `role`, into `team` when given. With `dry_run` every
/// check runs and nothing is written. An expired invitation of the same person is replaced.
#[allow(clippy::too_many_arguments)]
pub fn invite(conn: &mut Conn, org: &Owner, invitee: &str, role: Role, team: Option<&str>, inviter: &User, actor: &Actor, now: Timestamp, dry_run: bool) -> Result<Outcome, Error> {
    crate::db::write_tx(conn, |conn| {
        let team = team.map(|t| teams::find(conn, org.id, t)?.ok_or_else(|| Error::invalid_field("team", "No team of this organization has that name."))).transpose()?;
        let user = match accounts::normalize_username(invitee) {
            Ok(name) => accounts::find_by_username(conn, &name)?.filter(|u| !u.is_disabled),
            Err(_) => None,
        };
        let Some(user) = user else { return Ok(Outcome::Invalid) };
        if super::role_of(conn, org.id, user.id)?.is_some() {
            return Ok(Outcome::AlreadyMember);
        }
        let open: Option<Invitation> =
            invitations::table.filter(invitations::owner_id.eq(org.id.0)).filter(invitations::invitee_id.eq(user.id)).select(Invitation::as_select()).first(conn).optional()?;
        if open.as_ref().is_some_and(|i| !i.is_expired(now)) {
            return Ok(Outcome::AlreadyInvited);
        }
        if dry_run {
            return Ok(Outcome::Invited(Invitation {
                id: 0,
                uuid: String::new(),
                owner_id: org.id.0,
                invitee_id: user.id,
                inviter_id: Some(inviter.id),
                inviter_name: inviter.username.clone(),
                role: role.as_str().into(),
                team_id: team.as_ref().map(|t| t.id),
                created_at: now,
                expires_at: now + LIFETIME,
            }));
        }
        if let Some(expired) = open {
            diesel::delete(invitations::table.find(expired.id)).execute(conn)?;
        }
        let id = diesel::insert_into(invitations::table)
            .values((
                invitations::uuid.eq(uuid::Uuid::new_v4().to_string()),
                invitations::owner_id.eq(org.id.0),
                invitations::invitee_id.eq(user.id),
                invitations::inviter_id.eq(Some(inviter.id)),
                invitations::inviter_name.eq(&inviter.username),
                invitations::role.eq(role.as_str()),
                invitations::team_id.eq(team.as_ref().map(|t| t.id)),
                invitations::created_at.eq(now),
                invitations::expires_at.eq(now + LIFETIME),
            ))
            .returning(invitations::id)
            .get_result::<i32>(conn)?;
        let data = serde_json::json!({ "role": role.as_str(), "team": team.as_ref().map(|t| t.name.clone()) });
        events::record(conn, org.id, Action::MemberInvited, &user.username, actor, data, now)?;
        Ok(Outcome::Invited(invitations::table.find(id).select(Invitation::as_select()).first(conn)?))
    })
}

fn shown(conn: &mut Conn, rows: Vec<Invitation>) -> Result<Vec<Shown>, Error> {
    let mut out = Vec::with_capacity(rows.len());
    for invitation in rows {
        let org: String = owners::table.find(invitation.owner_id).select(owners::name).first(conn)?;
        let invitee: String = users::table.find(invitation.invitee_id).select(users::username).first(conn)?;
        let team = match invitation.team_id {
            Some(t) => teams_table::table.find(t).select(teams_table::name).first(conn).optional()?,
            None => None,
        };
        out.push(Shown { invitation, org, invitee, team });
    }
    Ok(out)
}

/// The invitations `user_id` may still accept, oldest first.
pub fn open_for(conn: &mut Conn, user_id: i32, now: Timestamp) -> Result<Vec<Shown>, Error> {
    let rows = invitations::table
        .filter(invitations::invitee_id.eq(user_id))
        .filter(invitations::expires_at.gt(now))
        .order(invitations::id.asc())
        .select(Invitation::as_select())
        .load(conn)?;
    shown(conn, rows)
}

/// Every invitation of the organization, expired ones included (an owner resends or
/// revokes them), oldest first.
pub fn of_org(conn: &mut Conn, org: &Owner) -> Result<Vec<Shown>, Error> {
    let rows = invitations::table.filter(invitations::owner_id.eq(org.id.0)).order(invitations::id.asc()).select(Invitation::as_select()).load(conn)?;
    shown(conn, rows)
}

/// Page `page` (from 1) of the organization's invitations, oldest first, and how many it
/// has: an organization may invite hundreds at once (`POST /v2/invites/bulk`).
pub fn page_of_org(conn: &mut Conn, org: &Owner, page: i64, per_page: i64) -> Result<(Vec<Shown>, i64), Error> {
    let total = invitations::table.filter(invitations::owner_id.eq(org.id.0)).count().get_result(conn)?;
    let rows = invitations::table
        .filter(invitations::owner_id.eq(org.id.0))
        .order(invitations::id.asc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select(Invitation::as_select())
        .load(conn)?;
    Ok((shown(conn, rows)?, total))
}

fn by_uuid(conn: &mut Conn, uuid: &str) -> Result<Option<Invitation>, Error> {
    if uuid.contains('\0') {
        return Ok(None);
    }
    Ok(invitations::table.filter(invitations::uuid.eq(uuid)).select(Invitation::as_select()).first(conn).optional()?)
}

/// One of the organization's invitations by its id, for its owners.
pub fn of_org_by_uuid(conn: &mut Conn, uuid: &str, user_id: i32) -> Result<(Owner, Invitation), Error> {
    let invitation = by_uuid(conn, uuid)?.ok_or(Error::NotFound)?;
    let name: String = owners::table.find(invitation.owner_id).select(owners::name).first(conn)?;
    let org = super::as_owner(conn, &name, user_id)?;
    Ok((org, invitation))
}

/// One invitation of `user_id`'s, expired or not, with its names; `NotFound` for anyone
/// else's (the pages check it names the organization of their address).
pub fn for_invitee(conn: &mut Conn, uuid: &str, user_id: i32) -> Result<Shown, Error> {
    let invitation = by_uuid(conn, uuid)?.filter(|i| i.invitee_id == user_id).ok_or(Error::NotFound)?;
    shown(conn, vec![invitation])?.pop().ok_or(Error::NotFound)
}

pub const EXPIRED: &str = "This invitation has expired. Ask an owner of the organization to send it again.";

/// The invitee accepts: a member with the invitation's role, in its team when the team
/// still exists. Anyone but the invitee gets `NotFound`.
pub fn accept(conn: &mut Conn, uuid: &str, user: &User, actor: &Actor, now: Timestamp) -> Result<Owner, Error> {
    crate::db::write_tx(conn, |conn| {
        let invitation = by_uuid(conn, uuid)?.filter(|i| i.invitee_id == user.id).ok_or(Error::NotFound)?;
        if invitation.is_expired(now) {
            return Err(Error::invalid(EXPIRED));
        }
        let org: Owner = owners::table.find(invitation.owner_id).select(Owner::as_select()).first(conn)?;
        let team = match invitation.team_id {
            Some(t) => teams_table::table.find(t).select(teams_table::name).first::<String>(conn).optional()?,
            None => None,
        };
        super::add_member(conn, &org, user, invitation.role(), team.as_deref(), actor, now)?;
        Ok(org)
    })
}

/// The invitee declines: the invitation is gone, in the organization's audit log.
pub fn decline(conn: &mut Conn, uuid: &str, user: &User, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let invitation = by_uuid(conn, uuid)?.filter(|i| i.invitee_id == user.id).ok_or(Error::NotFound)?;
        diesel::delete(invitations::table.find(invitation.id)).execute(conn)?;
        // the owners see the invitation end as they see it made
        events::record(conn, OwnerId(invitation.owner_id), Action::InviteDeclined, &user.username, actor, serde_json::json!({ "role": invitation.role }), now)
    })
}

/// An owner revokes an invitation.
pub fn revoke(conn: &mut Conn, org: &Owner, invitation: &Invitation, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let invitee: String = users::table.find(invitation.invitee_id).select(users::username).first(conn)?;
        diesel::delete(invitations::table.find(invitation.id)).execute(conn)?;
        events::record(conn, org.id, Action::InviteRevoked, &invitee, actor, serde_json::json!({}), now)
    })
}

/// An owner resends an invitation: open for seven days from now.
pub fn resend(conn: &mut Conn, invitation: &Invitation, now: Timestamp) -> Result<Invitation, Error> {
    diesel::update(invitations::table.find(invitation.id)).set(invitations::expires_at.eq(now + LIFETIME)).execute(conn)?;
    Ok(invitations::table.find(invitation.id).select(Invitation::as_select()).first(conn)?)
}
