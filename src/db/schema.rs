// Diesel's view of the tables in `migrations/`. Kept by hand: keep it in step with the SQL.

diesel::table! {
    users (id) {
        id -> Integer,
        username -> Text,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Text,
        is_operator -> Bool,
        is_disabled -> Bool,
        security_stamp -> Text,
        created_at -> BigInt,
        second_factor_count -> BigInt,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Integer,
        user_id -> Integer,
        code_hash -> Text,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        public_id -> Nullable<Text>,
        user_id -> Nullable<Integer>,
        state -> Text,
        ip -> Text,
        user_agent -> Text,
        created_at -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    activity (id) {
        id -> Integer,
        user_id -> Integer,
        kind -> Text,
        detail -> Text,
        ip -> Text,
        user_agent -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(activity -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, recovery_codes, sessions, activity);

diesel::table! {
    owners (id) {
        id -> Integer,
        kind -> Text,
        name -> Text,
        user_id -> Nullable<Integer>,
        plan -> Text,
        token_count -> BigInt,
        created_at -> BigInt,
        require_two_factor -> Bool,
        member_count -> BigInt,
        repository_count -> BigInt,
    }
}

diesel::joinable!(owners -> users (user_id));

diesel::table! {
    access_tokens (id) {
        id -> Integer,
        uuid -> Text,
        owner_id -> Integer,
        description -> Text,
        scope -> Text,
        token_hash -> Binary,
        hint -> Text,
        created_at -> BigInt,
        creator_ip -> Text,
        creator_ua -> Text,
        expires_at -> Nullable<BigInt>,
        is_active -> Bool,
        last_used_at -> Nullable<BigInt>,
        last_used_ip -> Nullable<Text>,
        last_used_ua -> Nullable<Text>,
        last_refused_at -> Nullable<BigInt>,
        last_refused_ip -> Nullable<Text>,
        last_refused_ua -> Nullable<Text>,
    }
}

diesel::joinable!(access_tokens -> owners (owner_id));

diesel::table! {
    repositories (id) {
        id -> Integer,
        owner_id -> Integer,
        name -> Text,
        is_public -> Bool,
        created_at -> BigInt,
        last_push_at -> Nullable<BigInt>,
        pull_count -> BigInt,
        last_pulled_at -> Nullable<BigInt>,
        description -> Text,
        full_description -> Text,
    }
}

diesel::joinable!(repositories -> owners (owner_id));

diesel::table! {
    manifests (id) {
        id -> Integer,
        repository_id -> Integer,
        digest -> Text,
        media_type -> Text,
        manifest_size -> BigInt,
        size -> Nullable<BigInt>,
        platforms -> Nullable<Text>,
        read_at -> Nullable<BigInt>,
        pushed_at -> BigInt,
        last_pulled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    tags (id) {
        id -> Integer,
        repository_id -> Integer,
        name -> Text,
        digest -> Text,
        pushed_at -> BigInt,
        pushed_by -> Nullable<Text>,
        last_pulled_at -> Nullable<BigInt>,
        pull_count -> BigInt,
    }
}

diesel::table! {
    registry_events_seen (event_id) {
        event_id -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    recent_index_pulls (repository_id, client) {
        repository_id -> Integer,
        client -> Text,
        digest -> Text,
        pulled_at -> BigInt,
    }
}

diesel::joinable!(manifests -> repositories (repository_id));
diesel::joinable!(tags -> repositories (repository_id));
diesel::joinable!(recent_index_pulls -> repositories (repository_id));
diesel::allow_tables_to_appear_in_same_query!(manifests, tags, repositories, recent_index_pulls);

diesel::table! {
    login_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Integer,
        expires_at -> BigInt,
        security_stamp -> Text,
    }
}

diesel::joinable!(login_challenges -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(login_challenges, users);

diesel::table! {
    form_keys (key_hash) {
        key_hash -> Text,
        user_id -> Integer,
        spent_at -> BigInt,
    }
}

diesel::joinable!(form_keys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(form_keys, users);

diesel::table! {
    second_factors (id) {
        id -> Integer,
        user_id -> Integer,
        kind -> Text,
        label -> Text,
        secret_enc -> Binary,
        last_step -> Nullable<BigInt>,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(second_factors -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(second_factors, users);

diesel::table! {
    throttle_accounts (account) {
        account -> Text,
        failures -> Integer,
        last_failure -> BigInt,
    }
}

diesel::table! {
    throttle_ip_failures (id) {
        id -> Integer,
        ip -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    throttle_reservations (id) {
        id -> Integer,
        account -> Nullable<Text>,
        ip -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    rate_windows (caller) {
        caller -> Text,
        window_start -> BigInt,
        hits -> Integer,
    }
}

diesel::table! {
    key_check (id) {
        id -> Integer,
        mac -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Integer,
        kid -> Text,
        sealed_private -> Nullable<Binary>,
        cert_pem -> Text,
        created_at -> BigInt,
        activation -> Nullable<Integer>,
        activated_at -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    org_members (owner_id, user_id) {
        owner_id -> Integer,
        user_id -> Integer,
        role -> Text,
        joined_at -> BigInt,
        username -> Text,
        team_count -> BigInt,
    }
}

diesel::table! {
    teams (id) {
        id -> Integer,
        uuid -> Text,
        owner_id -> Integer,
        name -> Text,
        description -> Text,
        created_at -> BigInt,
        member_count -> BigInt,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Integer,
        user_id -> Integer,
    }
}

diesel::table! {
    team_permissions (team_id, repository_id) {
        team_id -> Integer,
        repository_id -> Integer,
        permission -> Text,
    }
}

diesel::table! {
    collaborators (repository_id, user_id) {
        repository_id -> Integer,
        user_id -> Integer,
        permission -> Text,
        added_at -> BigInt,
    }
}

diesel::table! {
    invitations (id) {
        id -> Integer,
        uuid -> Text,
        owner_id -> Integer,
        invitee_id -> Integer,
        inviter_id -> Nullable<Integer>,
        inviter_name -> Text,
        role -> Text,
        team_id -> Nullable<Integer>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    org_events (id) {
        id -> Integer,
        owner_id -> Integer,
        action -> Text,
        name -> Text,
        actor -> Text,
        data -> Text,
        ip -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    reserved_names (name) {
        name -> Text,
        reserved_at -> BigInt,
    }
}

diesel::table! {
    org_access_tokens (id) {
        id -> Integer,
        uuid -> Text,
        owner_id -> Integer,
        label -> Text,
        description -> Text,
        resources -> Text,
        token_hash -> Binary,
        hint -> Text,
        created_by -> Nullable<Integer>,
        created_by_name -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        is_active -> Bool,
        last_used_at -> Nullable<BigInt>,
        last_used_ip -> Nullable<Text>,
        last_used_ua -> Nullable<Text>,
    }
}

diesel::joinable!(org_access_tokens -> owners (owner_id));
diesel::joinable!(org_members -> owners (owner_id));
diesel::joinable!(org_members -> users (user_id));
diesel::joinable!(teams -> owners (owner_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(team_permissions -> teams (team_id));
diesel::joinable!(team_permissions -> repositories (repository_id));
diesel::joinable!(collaborators -> repositories (repository_id));
diesel::joinable!(collaborators -> users (user_id));
diesel::joinable!(invitations -> owners (owner_id));
diesel::joinable!(invitations -> teams (team_id));
diesel::joinable!(org_events -> owners (owner_id));
diesel::allow_tables_to_appear_in_same_query!(
    org_members,
    teams,
    team_members,
    team_permissions,
    collaborators,
    invitations,
    org_events,
    reserved_names,
    org_access_tokens,
    owners,
    users,
    access_tokens,
    repositories
);

diesel::table! {
    webhooks (id) {
        id -> Integer,
        repository_id -> Integer,
        name -> Text,
        url -> Text,
        secret_sealed -> Binary,
        created_by -> Nullable<Integer>,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Integer,
        webhook_id -> Integer,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_until -> BigInt,
        created_at -> BigInt,
        last_attempt_at -> Nullable<BigInt>,
        response_code -> Nullable<Integer>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(webhooks -> repositories (repository_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);
diesel::allow_tables_to_appear_in_same_query!(webhooks, repositories);
diesel::allow_tables_to_appear_in_same_query!(webhooks, owners);
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, repositories);
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, owners);
diesel::allow_tables_to_appear_in_same_query!(webhooks, users);
