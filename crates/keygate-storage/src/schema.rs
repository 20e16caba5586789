//! Diesel's view of the tables created by `migrations/{sqlite,postgres}`. Written by hand (the
//! two backends print different schemas) and kept in step with the migrations by the tests,
//! which run every query against both.

diesel::table! {
    projects (id) {
        id -> Text,
        display_name -> Text,
        created_at_millis -> BigInt,
        allow_user_api_keys -> Bool,
        allow_team_api_keys -> Bool,
        client_team_creation_enabled -> Bool,
        api_key_scopes -> Text,
        default_rate_limit -> Nullable<BigInt>,
        default_rate_window_millis -> Nullable<BigInt>,
    }
}

diesel::table! {
    project_credentials (id) {
        id -> Text,
        project_id -> Text,
        description -> Text,
        created_at_millis -> BigInt,
        expires_at_millis -> Nullable<BigInt>,
        revoked_at_millis -> Nullable<BigInt>,
        publishable_client_key_hash -> Nullable<Binary>,
        secret_server_key_hash -> Nullable<Binary>,
        super_secret_admin_key_hash -> Nullable<Binary>,
        publishable_client_key_last_four -> Nullable<Text>,
        secret_server_key_last_four -> Nullable<Text>,
        super_secret_admin_key_last_four -> Nullable<Text>,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        project_id -> Text,
        display_name -> Text,
        profile_image_url -> Nullable<Text>,
        client_metadata -> Nullable<Text>,
        client_read_only_metadata -> Nullable<Text>,
        server_metadata -> Nullable<Text>,
        created_at_millis -> BigInt,
        api_key_count -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        project_id -> Text,
        display_name -> Nullable<Text>,
        primary_email -> Nullable<Text>,
        primary_email_verified -> Bool,
        profile_image_url -> Nullable<Text>,
        client_metadata -> Nullable<Text>,
        client_read_only_metadata -> Nullable<Text>,
        server_metadata -> Nullable<Text>,
        selected_team_id -> Nullable<Text>,
        signed_up_at_millis -> BigInt,
        last_active_at_millis -> BigInt,
        api_key_count -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Text,
        refresh_token_hash -> Binary,
        created_at_millis -> BigInt,
        expires_at_millis -> BigInt,
        revoked_at_millis -> Nullable<BigInt>,
        last_used_at_millis -> BigInt,
    }
}

diesel::table! {
    retired_refresh_tokens (refresh_token_hash) {
        refresh_token_hash -> Binary,
        session_id -> Text,
        retired_at_millis -> BigInt,
    }
}

diesel::table! {
    team_memberships (team_id, user_id) {
        project_id -> Text,
        team_id -> Text,
        user_id -> Text,
        created_at_millis -> BigInt,
        display_name -> Nullable<Text>,
        profile_image_url -> Nullable<Text>,
    }
}

diesel::table! {
    team_permission_definitions (project_id, id) {
        project_id -> Text,
        id -> Text,
        description -> Text,
        is_system -> Bool,
    }
}

diesel::table! {
    team_permission_containment (project_id, permission_id, contained_permission_id) {
        project_id -> Text,
        permission_id -> Text,
        contained_permission_id -> Text,
    }
}

diesel::table! {
    team_permission_grants (team_id, user_id, permission_id) {
        project_id -> Text,
        team_id -> Text,
        user_id -> Text,
        permission_id -> Text,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        project_id -> Text,
        user_id -> Nullable<Text>,
        team_id -> Nullable<Text>,
        description -> Text,
        is_public -> Bool,
        key_hash -> Binary,
        last_four -> Text,
        created_at_millis -> BigInt,
        expires_at_millis -> Nullable<BigInt>,
        manually_revoked_at_millis -> Nullable<BigInt>,
        last_used_at_millis -> Nullable<BigInt>,
        scopes -> Text,
        metadata -> Nullable<Text>,
        rate_limit -> Nullable<BigInt>,
        rate_window_millis -> Nullable<BigInt>,
        remaining_uses -> Nullable<BigInt>,
        refill_amount -> Nullable<BigInt>,
        refill_interval_millis -> Nullable<BigInt>,
        refilled_at_millis -> Nullable<BigInt>,
    }
}

diesel::table! {
    key_rate_counts (api_key_id, window_start_millis, node_id) {
        api_key_id -> Text,
        window_start_millis -> BigInt,
        node_id -> Text,
        checks -> BigInt,
        window_end_millis -> BigInt,
    }
}

// Single-column halves of the composite foreign keys, enough for Diesel's joins; the queries
// also match on project_id.
diesel::joinable!(team_memberships -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(teams, team_memberships);
diesel::allow_tables_to_appear_in_same_query!(users, team_memberships);

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Binary,
        created_at_millis -> BigInt,
    }
}

diesel::table! {
    notification_outbox (id) {
        id -> Text,
        project_id -> Text,
        dedupe_key -> Text,
        recipient_email -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at_millis -> BigInt,
        sent_at_millis -> Nullable<BigInt>,
        attempts -> Integer,
        next_attempt_at_millis -> BigInt,
        claimed_at_millis -> Nullable<BigInt>,
        failed_at_millis -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        project_id -> Text,
        url -> Text,
        description -> Text,
        event_types -> Text,
        disabled -> Bool,
        created_at_millis -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        project_id -> Text,
        endpoint_id -> Text,
        dedupe_key -> Text,
        event_type -> Text,
        payload -> Text,
        created_at_millis -> BigInt,
        attempts -> Integer,
        next_attempt_at_millis -> BigInt,
        claimed_at_millis -> Nullable<BigInt>,
        delivered_at_millis -> Nullable<BigInt>,
        failed_at_millis -> Nullable<BigInt>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_endpoints);

diesel::table! {
    audit_events (id) {
        id -> Text,
        project_id -> Text,
        created_at_millis -> BigInt,
        action -> Text,
        object_type -> Text,
        object_id -> Text,
        actor_type -> Text,
        actor_user_id -> Nullable<Text>,
        actor_label -> Nullable<Text>,
        target_user_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        client_address -> Nullable<Text>,
        metadata -> Text,
    }
}

diesel::table! {
    project_cors_settings (project_id) {
        project_id -> Text,
        allow_localhost -> Bool,
        updated_at_millis -> BigInt,
    }
}

diesel::table! {
    project_trusted_domains (project_id, position) {
        project_id -> Text,
        position -> Integer,
        domain -> Text,
        handler_path -> Text,
        origin -> Text,
    }
}
