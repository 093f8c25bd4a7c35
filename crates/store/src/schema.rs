// Mirrors migrations/; regenerate with `diesel print-schema` when a migration changes a table.
diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        display_name -> Text,
        avatar_url -> Nullable<Text>,
        last_seen -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Int8,
        /// The id a conversation had before ids became integers (migration `external_ids`).
        legacy_uuid -> Nullable<Uuid>,
        kind -> Text,
        title -> Text,
        dm_low -> Nullable<Text>,
        dm_high -> Nullable<Text>,
        created_by -> Nullable<Text>,
        last_seq -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    members (conversation_id, user_id) {
        conversation_id -> Int8,
        user_id -> Text,
        role -> Text,
        state -> Text,
        last_read_seq -> Int8,
        last_delivered_seq -> Int8,
        read_at -> Nullable<Timestamptz>,
        delivered_at -> Nullable<Timestamptz>,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Int8,
        conversation_id -> Int8,
        seq -> Int8,
        sender_id -> Nullable<Text>,
        kind -> Text,
        content -> Text,
        attachment_url -> Nullable<Text>,
        attachment_name -> Nullable<Text>,
        attachment_mime -> Nullable<Text>,
        attachment_size -> Nullable<Int8>,
        client_key -> Nullable<Text>,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    reactions (message_id, user_id, emoji) {
        message_id -> Int8,
        user_id -> Text,
        emoji -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(members -> conversations (conversation_id));
diesel::joinable!(members -> users (user_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(reactions -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(users, conversations, members, messages, reactions);
