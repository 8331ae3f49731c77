use super::*;

#[test]
fn plans_parse_and_carry_their_limits() {
    assert_eq!("Pro".parse::<Plan>().unwrap(), Plan::Pro);
    assert!("gold".parse::<Plan>().is_err());
    assert_eq!(Plan::Personal.token_limit(), Some(1));
    assert_eq!(Plan::Pro.token_limit(), Some(5));
    assert_eq!(Plan::Team.token_limit(), None);
    assert!(!Plan::Personal.scoped_tokens());
    assert!(Plan::Business.scoped_tokens());
}

#[test]
fn in_a_users_own_namespace_the_user_has_admin_and_nobody_else_anything() {
    let alice = Namespace { id: OwnerId(10), kind: Kind::User, user_id: Some(1) };
    assert_eq!(permission(Some(1), &alice), Permission::Admin);
    assert_eq!(permission(Some(2), &alice), Permission::None);
    assert_eq!(permission(None, &alice), Permission::None);
    // the owner's id is not its user's: a caller whose user id equals the owner id gets nothing
    assert_eq!(permission(Some(10), &alice), Permission::None);
    let org = Namespace { id: OwnerId(11), kind: Kind::Organization, user_id: None };
    assert_eq!(permission(Some(1), &org), Permission::None);
    assert_eq!(permission(None, &org), Permission::None);
}

/// A data folder written before owners existed: users holding plans and token counters,
/// tokens and repositories pointing at users. Built by running every migration before the
/// owners one and writing rows as those releases did, then upgraded.
mod migration {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
    use diesel_migrations::MigrationHarness;

    use crate::db::SQLITE_MIGRATIONS as MIGRATIONS;
    use crate::owners::{self, Kind, OwnerId, Plan};
    use crate::tokens::{self, PlainToken};

    #[derive(QueryableByName, Debug, PartialEq)]
    struct TokenRow {
        #[diesel(sql_type = Integer)]
        id: i32,
        #[diesel(sql_type = Text)]
        uuid: String,
        #[diesel(sql_type = Text)]
        username: String,
        #[diesel(sql_type = Text)]
        description: String,
        #[diesel(sql_type = Text)]
        scope: String,
        #[diesel(sql_type = Binary)]
        token_hash: Vec<u8>,
        #[diesel(sql_type = Text)]
        hint: String,
        #[diesel(sql_type = BigInt)]
        created_at: i64,
        #[diesel(sql_type = Text)]
        creator_ip: String,
        #[diesel(sql_type = Nullable<BigInt>)]
        expires_at: Option<i64>,
        #[diesel(sql_type = Bool)]
        is_active: bool,
        #[diesel(sql_type = Nullable<BigInt>)]
        last_used_at: Option<i64>,
        #[diesel(sql_type = Nullable<Text>)]
        last_used_ip: Option<String>,
        #[diesel(sql_type = Nullable<BigInt>)]
        last_refused_at: Option<i64>,
    }

    #[derive(QueryableByName, Debug, PartialEq)]
    struct RepoRow {
        #[diesel(sql_type = Integer)]
        id: i32,
        #[diesel(sql_type = Text)]
        username: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Bool)]
        is_public: bool,
        #[diesel(sql_type = BigInt)]
        created_at: i64,
        #[diesel(sql_type = Nullable<BigInt>)]
        last_push_at: Option<i64>,
    }

    const TOKEN_COLUMNS: &str = "t.id, t.uuid, u.username, t.description, t.scope, t.token_hash, t.hint, t.created_at, t.creator_ip, t.expires_at, t.is_active, \
                                 t.last_used_at, t.last_used_ip, t.last_refused_at";

    #[test]
    fn the_owners_migration_keeps_every_user_token_and_repository_attached() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("old.db").display().to_string();
        let mut c = crate::db::Conn::Sqlite(SqliteConnection::establish(&url).unwrap());
        c.batch_execute("PRAGMA foreign_keys = ON;").unwrap();
        for m in c.pending_migrations(MIGRATIONS).unwrap() {
            if m.name().to_string().ends_with("_owners") {
                break;
            }
            c.run_migration(&m).unwrap();
        }

        // users with gaps in their ids (a deleted one between), plans and kept counts
        c.batch_execute(
            "INSERT INTO users (id, username, email, email_normalized, password_hash, plan, security_stamp, created_at, token_count) VALUES
               (3, 'alice', 'alice@example.com', 'alice@example.com', 'h', 'pro', 's', 100, 2),
               (7, 'bobby', 'Bobby@example.com', 'bobby@example.com', 'h', 'personal', 's', 200, 1),
               (9, 'carol', 'carol@example.com', 'carol@example.com', 'h', 'team', 's', 300, 0);",
        )
        .unwrap();
        let secrets: Vec<PlainToken> = (0..3).map(|_| PlainToken::generate()).collect();
        let insert_token = |c: &mut crate::db::Conn, id: i32, user: i32, plain: &PlainToken, scope: &str, active: bool, expires: Option<i64>, used: Option<i64>| {
            diesel::sql_query(
                "INSERT INTO access_tokens (id, uuid, user_id, description, scope, token_hash, hint, created_at, creator_ip, creator_ua, expires_at, is_active,
                                            last_used_at, last_used_ip, last_used_ua, last_refused_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, 150, '10.0.0.1', 'docker/27', ?, ?, ?, '10.0.0.2', 'docker/28', ?)",
            )
            .bind::<Integer, _>(id)
            .bind::<Text, _>(format!("uuid-{id}"))
            .bind::<Integer, _>(user)
            .bind::<Text, _>(format!("token {id}"))
            .bind::<Text, _>(scope)
            .bind::<Binary, _>(plain.hash().0.to_vec())
            .bind::<Text, _>(plain.hint())
            .bind::<Nullable<BigInt>, _>(expires)
            .bind::<Bool, _>(active)
            .bind::<Nullable<BigInt>, _>(used)
            .bind::<Nullable<BigInt>, _>(used.map(|u| u + 1))
            .execute(c)
            .unwrap();
        };
        insert_token(&mut c, 4, 3, &secrets[0], "repo:read", true, None, Some(160));
        insert_token(&mut c, 5, 3, &secrets[1], "repo:admin", false, Some(2_000_000_000), None);
        insert_token(&mut c, 8, 7, &secrets[2], "repo:admin", true, None, None);
        c.batch_execute(
            "INSERT INTO repositories (id, owner_id, name, is_public, created_at, last_push_at) VALUES
               (2, 3, 'alice/app', 1, 110, 120),
               (5, 3, 'alice/team/tool', 0, 130, NULL),
               (6, 7, 'bobby/private', 0, 210, 220);",
        )
        .unwrap();
        let tokens_query = format!("SELECT {TOKEN_COLUMNS} FROM access_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id");
        let tokens_before: Vec<TokenRow> = diesel::sql_query(&tokens_query).load(&mut c).unwrap();
        let repos_before: Vec<RepoRow> =
            diesel::sql_query("SELECT r.id, u.username, r.name, r.is_public, r.created_at, r.last_push_at FROM repositories r JOIN users u ON u.id = r.owner_id ORDER BY r.id")
                .load(&mut c)
                .unwrap();
        assert_eq!((tokens_before.len(), repos_before.len()), (3, 3));
        drop(c);

        // the upgrade, as Berth opens a data folder
        let pool = crate::db::open(&url).unwrap();
        let mut c = pool.get().unwrap();

        // every token and repository kept, each column, attached to the same user through its owner
        let tokens_after: Vec<TokenRow> =
            diesel::sql_query(format!("SELECT {TOKEN_COLUMNS} FROM access_tokens t JOIN owners o ON o.id = t.owner_id JOIN users u ON u.id = o.user_id ORDER BY t.id"))
                .load(&mut c)
                .unwrap();
        assert_eq!(tokens_after, tokens_before);
        let repos_after: Vec<RepoRow> = diesel::sql_query(
            "SELECT r.id, u.username, r.name, r.is_public, r.created_at, r.last_push_at FROM repositories r JOIN owners o ON o.id = r.owner_id JOIN users u ON u.id = o.user_id ORDER BY r.id",
        )
        .load(&mut c)
        .unwrap();
        assert_eq!(repos_after, repos_before);

        // one owner per user, named as the user, with the user's plan and kept count
        for (user_id, name, plan, held, created) in [(3, "alice", Plan::Pro, 2, 100), (7, "bobby", Plan::Personal, 1, 200), (9, "carol", Plan::Team, 0, 300)] {
            let home = owners::of_user(&mut c, user_id).unwrap();
            assert_eq!((home.kind, home.name.as_str(), home.plan(), home.token_count, home.created_at), (Kind::User, name, plan, held, created), "{name}");
            assert_eq!(owners::find_by_name(&mut c, name).unwrap().unwrap().id, home.id);
        }

        // and it all works through the domain: tokens authenticate for their user, counts
        // and pages read the owner, repositories are the owner's
        let now = 1_000;
        let alice = tokens::authenticate(&mut c, now, "alice", secrets[0].expose(), "10.0.0.2", "docker/28").unwrap().expect("alice's token works");
        assert_eq!((alice.user_id, alice.owner_name.as_str(), alice.scope), (3, "alice", tokens::Scope::Read));
        assert!(tokens::authenticate(&mut c, now, "bobby", secrets[0].expose(), "", "").unwrap().is_none(), "not for another user's name");
        assert!(matches!(tokens::lookup(&mut c, now, "alice", secrets[1].expose()).unwrap(), tokens::Lookup::Refused(_)), "the deactivated one is refused");
        assert_eq!(tokens::authenticate(&mut c, now, "bobby", secrets[2].expose(), "", "").unwrap().unwrap().user_id, 7);
        let counts = tokens::counts(&mut c, 3, now).unwrap();
        assert_eq!((counts.total(), counts.active, counts.inactive), (2, 1, 1));
        assert_eq!(tokens::page(&mut c, 7, 1, 10).unwrap().iter().map(|t| t.uuid.as_str()).collect::<Vec<_>>(), ["uuid-8"]);
        let alice_home = owners::of_user(&mut c, 3).unwrap().id;
        let names: Vec<String> = crate::repositories::list(&mut c, alice_home).unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["alice/app", "alice/team/tool"]);
        let facts = crate::repositories::facts(&mut c, "bobby/private", None, None).unwrap();
        assert_eq!((facts.owner.map(|o| o.user_id), facts.public, facts.last_push_at), (Some(Some(7)), Some(false), Some(220)));

        // plan and count live on the owner alone
        #[derive(QueryableByName)]
        struct Column {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let columns: Vec<String> = diesel::sql_query("SELECT name FROM pragma_table_info('users')").load::<Column>(&mut c).unwrap().into_iter().map(|c| c.name).collect();
        assert!(!columns.iter().any(|c| c == "plan" || c == "token_count"), "{columns:?}");

        // a user made after the upgrade gets an owner of its own, not a migrated one's
        let new = crate::accounts::NewAccount {
            username: "dave".into(),
            email: "dave@example.com".into(),
            email_normalized: "dave@example.com".into(),
            password_hash: "h".into(),
            plan: Plan::Business,
            operator: false,
        };
        let dave = crate::accounts::create(&mut c, new, now).unwrap();
        let home = owners::of_user(&mut c, dave.id).unwrap();
        assert!(![OwnerId(3), OwnerId(7), OwnerId(9)].contains(&home.id));
        assert_eq!((home.name.as_str(), home.plan()), ("dave", Plan::Business));
        // and no account can take a namespace an owner holds
        let again = crate::accounts::NewAccount {
            username: "dave".into(),
            email: "other@example.com".into(),
            email_normalized: "other@example.com".into(),
            password_hash: "h".into(),
            plan: Plan::Personal,
            operator: false,
        };
        assert!(matches!(crate::accounts::create(&mut c, again, now), Err(crate::Error::Taken("username"))));
    }
}
