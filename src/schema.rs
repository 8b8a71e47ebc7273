// @generated automatically by Diesel CLI.

diesel::table! {
    app_events (name) {
        name -> Text,
        happened_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (id) {
        id -> Int8,
        database_id -> Int8,
        name -> Text,
        company -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        mobile -> Nullable<Text>,
        country -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    databases (id) {
        id -> Int8,
        name -> Text,
        subscription -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    packs (id) {
        id -> Int8,
        service_id -> Int8,
        name -> Text,
        credits -> Int8,
        price_minor -> Int8,
        currency -> Text,
        active -> Bool,
        sort_order -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    services (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        provider -> Text,
        description -> Text,
        trial_credits -> Int8,
        active -> Bool,
        sort_order -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        database_id -> Int8,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(contacts -> databases (database_id));
diesel::joinable!(packs -> services (service_id));
diesel::joinable!(users -> databases (database_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_events, contacts, databases, packs, services, users,
);
