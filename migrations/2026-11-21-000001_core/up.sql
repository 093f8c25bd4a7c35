-- The one domain every dialect shares. See docs/architecture.md.

CREATE TABLE users (
    id           UUID PRIMARY KEY,
    username     TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url   TEXT,
    last_seen    TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX users_username_lower ON users (lower(username));

CREATE TABLE conversations (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('dm', 'group')),
    title      TEXT NOT NULL DEFAULT '',
    -- A DM's key is its ordered pair of user ids; the unique index makes concurrent get-or-create race-free.
    dm_low     UUID REFERENCES users (id),
    dm_high    UUID REFERENCES users (id),
    created_by UUID REFERENCES users (id),
    -- The last seq handed out: bumped under the row lock in the insert transaction, so seq is gapless.
    last_seq   BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind = 'dm') = (dm_low IS NOT NULL AND dm_high IS NOT NULL)),
    CHECK (dm_low IS NULL OR dm_low < dm_high)
);
-- NULL pairs (groups) never collide: NULLs are distinct in a unique index.
CREATE UNIQUE INDEX conversations_dm_pair ON conversations (dm_low, dm_high);

CREATE TABLE members (
    conversation_id    UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id            UUID NOT NULL REFERENCES users (id),
    role               TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    state              TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'pending', 'declined')),
    -- Watermarks: a message is read by this member iff its seq <= last_read_seq.
    last_read_seq      BIGINT NOT NULL DEFAULT 0,
    last_delivered_seq BIGINT NOT NULL DEFAULT 0,
    read_at            TIMESTAMPTZ,
    delivered_at       TIMESTAMPTZ,
    joined_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    sender_id       UUID REFERENCES users (id),
    kind            TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'system')),
    content         TEXT NOT NULL,
    attachment_url  TEXT,
    attachment_name TEXT,
    attachment_mime TEXT,
    attachment_size BIGINT,
    -- The sender's idempotency key (native idempotency key, rooms temp_id): a retry returns the original.
    client_key      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    edited_at       TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_sender_client_key ON messages (sender_id, client_key) WHERE client_key IS NOT NULL;

CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id),
    emoji      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id, emoji)
);
